from django import forms

from deployments.choices import ArtifactFormat


class RegisterUriForm(forms.Form):
    name = forms.CharField(max_length=100)
    format = forms.ChoiceField(choices=ArtifactFormat.choices)
    source_uri = forms.CharField(label="S3 URI", max_length=1000, help_text="s3://bucket/path/to/model (file or folder)")


class SizingForm(forms.Form):
    context = forms.IntegerField(min_value=128, max_value=1_048_576, initial=8192, label="Context tokens")
    concurrency = forms.IntegerField(min_value=1, max_value=1024, initial=4, label="Concurrent sequences")
