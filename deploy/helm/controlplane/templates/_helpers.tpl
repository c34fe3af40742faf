{{- define "controlplane.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels of one component; `name` is the pod's app.kubernetes.io/name. */}}
{{- define "controlplane.selectorLabels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "controlplane.labels" -}}
{{ include "controlplane.selectorLabels" . }}
app.kubernetes.io/part-of: controlplane
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end -}}

{{- define "controlplane.secretName" -}}
{{- .Values.existingSecret | default (printf "%s-secrets" (include "controlplane.fullname" .)) -}}
{{- end -}}

{{- define "controlplane.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- .Values.serviceAccount.name | default (include "controlplane.fullname" .) -}}
{{- else -}}
{{- .Values.serviceAccount.name | default "default" -}}
{{- end -}}
{{- end -}}

{{- define "controlplane.image" -}}
{{- $image := index .root.Values.image .which -}}
{{- printf "%s:%s" $image.repository ($image.tag | default .root.Chart.AppVersion) -}}
{{- end -}}

{{- define "controlplane.secretEnv" -}}
- name: {{ .key }}
  valueFrom:
    secretKeyRef:
      name: {{ include "controlplane.secretName" .root }}
      key: {{ .key }}
{{- end -}}

{{/* The environment of web, worker, beat and the migrations Job. */}}
{{- define "controlplane.env" -}}
{{- $web := printf "%s-web" (include "controlplane.fullname" .) -}}
{{- $hosts := list "localhost" "127.0.0.1" $web (printf "%s.%s.svc" $web .Release.Namespace) -}}
{{- if .Values.ingress.enabled }}{{ $hosts = append $hosts .Values.ingress.web.host }}{{ end -}}
{{- $hosts = concat $hosts .Values.allowedHosts | uniq -}}
{{- range list "DATABASE_URL" "REDIS_URL" "DJANGO_SECRET_KEY" "GATEWAY_SHARED_SECRET" }}
{{ include "controlplane.secretEnv" (dict "root" $ "key" .) }}
{{- end }}
- name: DJANGO_ALLOWED_HOSTS
  value: {{ join "," $hosts | quote }}
{{- /* Behind a TLS-terminating Ingress the browser's Origin is https:// while Django sees http://. */}}
{{- $origins := .Values.csrfTrustedOrigins -}}
{{- if .Values.ingress.enabled }}{{ $origins = append $origins (printf "https://%s" .Values.ingress.web.host) }}{{ end -}}
{{- with $origins | uniq }}
- name: DJANGO_CSRF_TRUSTED_ORIGINS
  value: {{ join "," . | quote }}
{{- end }}
- name: GATEWAY_PUBLIC_URL
  value: {{ .Values.gatewayPublicUrl | quote }}
- name: GATEWAY_PORT
  value: {{ .Values.gateway.port | quote }}
- name: CONTROLPLANE_VAR_DIR
  value: /var/lib/controlplane
- name: HOME
  value: /tmp
{{- with .Values.artifacts }}
{{- if .s3Bucket }}
- name: ARTIFACT_S3_BUCKET
  value: {{ .s3Bucket | quote }}
- name: ARTIFACT_S3_PREFIX
  value: {{ .s3Prefix | quote }}
- name: AWS_DEFAULT_REGION
  value: {{ .region | quote }}
{{- if .s3EndpointUrl }}
- name: AWS_S3_ENDPOINT_URL
  value: {{ .s3EndpointUrl | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The writable folders of a read-only root filesystem. */}}
{{- define "controlplane.scratchMounts" -}}
- name: var
  mountPath: /var/lib/controlplane
- name: tmp
  mountPath: /tmp
{{- end -}}

{{- define "controlplane.scratchVolumes" -}}
- name: var
  emptyDir: {}
- name: tmp
  emptyDir: {}
{{- end -}}

{{/* Pod-level settings every component shares. */}}
{{- define "controlplane.podSpec" -}}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .root.Values.podSecurityContext | nindent 2 }}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Pods restart when a value that goes into the Secret changes (the Secret itself is a hook). */}}
{{- define "controlplane.podAnnotations" -}}
checksum/secret-values: {{ pick .Values "existingSecret" "database" "redis" "djangoSecretKey" "gatewaySharedSecret" | toJson | sha256sum }}
{{- end -}}
