{{/*
Shared names for the errand library. Every template here takes the chart's root context (`$`) and reads
`.Values.errand`, which Helm fills from this library's values.yaml and the parent's `errand:` overrides.
*/}}

{{/* Paths inside the containers; fixed, so the agent's variables and Errand's flags cannot disagree. */}}
{{- define "errand.constants" -}}
taskDir: /etc/errand/task
trustKeyFile: trust-key.pem
stateDir: /var/lib/errand
caDir: /var/run/errand-ca
caFile: ca.pem
caBundleFile: ca-bundle.pem
secretsDir: /etc/errand/secrets
netinitDir: /etc/errand/netinit
irsaTokenDir: /var/run/secrets/eks.amazonaws.com/serviceaccount
podIdentityTokenDir: /var/run/secrets/pods.eks.amazonaws.com/serviceaccount
{{- /* EKS Pod Identity agent: https://docs.aws.amazon.com/eks/latest/userguide/pod-id-how-it-works.html */}}
podIdentityUrl: http://169.254.170.23/v1/credentials
{{- /* What the agent holds instead of keys: well-formed, worthless (Errand re-signs every call). */}}
placeholderAccessKeyId: AKIAERRANDPLACEHOLDR
placeholderSecretAccessKey: errand-placeholder-secret-not-a-credential
{{- end -}}

{{/* The names Errand's own containers and volumes take in the pod; agent specs may not reuse them. */}}
{{- define "errand.reservedNames" -}}
containers: [errand, errand-netinit, errand-netinit-v6]
volumes: [errand-task, errand-state, errand-ca, errand-secrets, errand-aws-token, errand-netinit, errand-netinit-run]
{{- end -}}

{{/* Variables that carry AWS credentials or point an SDK at them: never in an agent container. */}}
{{- define "errand.credentialVariables" -}}
- AWS_ACCESS_KEY_ID
- AWS_SECRET_ACCESS_KEY
- AWS_SESSION_TOKEN
- AWS_SECURITY_TOKEN
- AWS_ROLE_ARN
- AWS_ROLE_SESSION_NAME
- AWS_WEB_IDENTITY_TOKEN_FILE
- AWS_CONTAINER_CREDENTIALS_FULL_URI
- AWS_CONTAINER_CREDENTIALS_RELATIVE_URI
- AWS_CONTAINER_AUTHORIZATION_TOKEN
- AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE
- AWS_SHARED_CREDENTIALS_FILE
- AWS_CONFIG_FILE
- AWS_PROFILE
{{- end -}}

{{- define "errand.image" -}}
{{- $image := .image -}}
{{- if $image.digest -}}
{{ $image.repository }}@{{ $image.digest }}
{{- else -}}
{{ $image.repository }}:{{ $image.tag | default .appVersion }}
{{- end -}}
{{- end -}}

{{/* The label that ties the task pod to its NetworkPolicy. */}}
{{- define "errand.podLabels" -}}
errand.dev/instance: {{ .Release.Name | quote }}
{{- end -}}

{{/*
The manifest: its file name inside the task volume, whether it is signed, its sha256 (for a compact JWS:
of the decoded payload, as Errand computes it), and the name of the per-task object it comes from.
*/}}
{{- define "errand.manifestInfo" -}}
{{- $m := .Values.errand.manifest -}}
{{- if $m.content -}}
{{- $text := $m.content | trim -}}
{{- $jws := regexMatch "^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$" $text -}}
{{- $sha := "" -}}
{{- if $jws -}}
{{- /* RFC 7515 section 2: base64url without padding; sprig's b64dec wants standard, padded base64. */ -}}
{{- $payload := index (splitList "." $text) 1 | replace "-" "+" | replace "_" "/" -}}
{{- $pad := mod (sub 4 (mod (len $payload) 4)) 4 | int -}}
{{- $sha = printf "%s%s" $payload (repeat $pad "=") | b64dec | sha256sum -}}
{{- else -}}
{{- $sha = $m.content | sha256sum -}}
{{- end -}}
signed: {{ $jws }}
inline: true
file: {{ ternary "task.jws" "task.yaml" $jws }}
sha256: {{ $sha }}
objectKind: {{ $m.objectKind }}
objectName: {{ printf "%s-manifest-%s" .Release.Name (trunc 12 $sha) | trunc 63 | trimSuffix "-" }}
key: {{ ternary "task.jws" "task.yaml" $jws }}
{{- else -}}
signed: {{ not .Values.errand.unsafeAllowUnsignedManifest }}
inline: false
file: {{ $m.key }}
sha256: {{ $m.sha256 | quote }}
objectKind: {{ ternary "Secret" "ConfigMap" (ne $m.existingSecret "") }}
objectName: {{ coalesce $m.existingSecret $m.existingConfigMap | quote }}
key: {{ $m.key }}
{{- end -}}
{{- end -}}
