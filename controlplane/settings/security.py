"""HTTPS settings. The embedded default (`make run`) serves plain HTTP on 127.0.0.1, where secure-only
cookies would never come back, so everything here is off until a deployment says the site is served
over HTTPS with DJANGO_HTTPS=true (`manage.py check --deploy` in `make check` runs that way)."""

from .env import env

_https = env.bool("DJANGO_HTTPS", default=False)

SESSION_COOKIE_SECURE = env.bool("DJANGO_SESSION_COOKIE_SECURE", default=_https)
CSRF_COOKIE_SECURE = env.bool("DJANGO_CSRF_COOKIE_SECURE", default=_https)

# A browser that saw HSTS refuses plain HTTP for that long, with no way to take it back, so the
# default is one hour; raise DJANGO_SECURE_HSTS_SECONDS (a year: 31536000) once HTTPS is known good.
# Subdomains of the console's host are ours too (nothing else should live under it).
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=3600 if _https else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=_https)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)

# TLS usually ends at the ingress or load balancer, which then says so in X-Forwarded-Proto. Trust
# that header only when every request comes through such a proxy (it must overwrite the header):
# otherwise a client could claim HTTPS. Without it, behind a proxy, Django sees plain HTTP: no HSTS
# header and CSRF refuses the https:// Origin of every form post.
if env.bool("DJANGO_SECURE_PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Off by default even with HTTPS: the ingress redirects HTTP to HTTPS, and in-cluster callers
# speak plain HTTP to the pod (the gateway's token introspection, kubelet probes), which a
# redirect here would break. Set it when Django itself faces browsers.
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=False)

SILENCED_SYSTEM_CHECKS = [
    # SECURE_SSL_REDIRECT is off: the HTTP-to-HTTPS redirect is the ingress's job (see above).
    "security.W008",
    # HSTS preload asks browsers to hard-code the whole registered domain, which is the domain
    # owner's decision and not this application's; DJANGO_SECURE_HSTS_PRELOAD turns it on.
    "security.W021",
]
