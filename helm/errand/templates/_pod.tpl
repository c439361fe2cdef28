{{/*
errand.agentEnv: the variables every agent container gets, as a YAML list. Placeholder keys (the SDKs
sign with them; Errand checks the request and re-signs it), the endpoint and proxy that lead to Errand,
instance metadata off, and every CA variable pointing at the pod CA Errand writes into errand-ca.
*/}}
{{- define "errand.agentEnv" -}}
{{- $v := .Values.errand -}}
{{- $c := include "errand.constants" . | fromYaml -}}
{{- $proxy := printf "http://127.0.0.1:%d" (int $v.ports.proxy) -}}
{{- $noProxy := concat (list "127.0.0.1" "localhost") ($v.agentNoProxy | default list) | join "," -}}
{{- $bundle := printf "%s/%s" $c.caDir $c.caBundleFile -}}
- name: AWS_ACCESS_KEY_ID
  value: {{ $c.placeholderAccessKeyId }}
- name: AWS_SECRET_ACCESS_KEY
  value: {{ $c.placeholderSecretAccessKey }}
- name: AWS_REGION
  value: {{ $v.region | quote }}
- name: AWS_DEFAULT_REGION
  value: {{ $v.region | quote }}
- name: AWS_ENDPOINT_URL
  value: {{ printf "http://127.0.0.1:%d" (int $v.ports.aws) }}
- name: AWS_EC2_METADATA_DISABLED
  value: "true"
{{- /* curl reads only the lower-case http_proxy (httpoxy); most other clients read either. */}}
- name: HTTP_PROXY
  value: {{ $proxy }}
- name: HTTPS_PROXY
  value: {{ $proxy }}
- name: http_proxy
  value: {{ $proxy }}
- name: https_proxy
  value: {{ $proxy }}
- name: NO_PROXY
  value: {{ $noProxy | quote }}
- name: no_proxy
  value: {{ $noProxy | quote }}
{{- /* Node 24's built-in fetch and http honour the proxy variables only with this set. */}}
- name: NODE_USE_ENV_PROXY
  value: "1"
{{- /* These replace the client's trust store: the bundle holds the pod CA and the system roots. */}}
- name: AWS_CA_BUNDLE
  value: {{ $bundle }}
- name: REQUESTS_CA_BUNDLE
  value: {{ $bundle }}
- name: SSL_CERT_FILE
  value: {{ $bundle }}
- name: CURL_CA_BUNDLE
  value: {{ $bundle }}
{{- /* Node adds this one to its built-in roots. */}}
- name: NODE_EXTRA_CA_CERTS
  value: {{ printf "%s/%s" $c.caDir $c.caFile }}
{{- end -}}

{{/* errand.errandContainer: Errand as a native sidecar (an init container that keeps running). */}}
{{- define "errand.errandContainer" -}}
{{- $root := .root -}}
{{- $v := $root.Values.errand -}}
{{- $c := include "errand.constants" $root | fromYaml -}}
{{- $info := include "errand.manifestInfo" $root | fromYaml -}}
{{- /* Errand reads its projected token through the pod's fsGroup (see errand.podSpec). */ -}}
{{- $group := dig "securityContext" "fsGroup" $v.runAsGroup .spec -}}
name: errand
image: {{ include "errand.image" (dict "image" $v.image "appVersion" $root.Chart.AppVersion) | quote }}
imagePullPolicy: {{ $v.image.pullPolicy }}
{{- /* KEP-753: restartPolicy Always makes this init container a sidecar that outlives the others,
     starts before the agent, and is stopped after it. */}}
restartPolicy: Always
args:
  - run
  - --manifest={{ $c.taskDir }}/{{ $info.file }}
  {{- if $v.unsafeAllowUnsignedManifest }}
  - --unsafe-allow-unsigned-manifest
  {{- end }}
  {{- if $v.trustKey.configMap }}
  - --trust-key={{ $c.taskDir }}/{{ $c.trustKeyFile }}
  - --audience={{ $v.audience }}
  {{- end }}
  - --listen=127.0.0.1:{{ int $v.ports.aws }}
  - --proxy-listen=127.0.0.1:{{ int $v.ports.proxy }}
  - --ops-listen=0.0.0.0:{{ int $v.ports.ops }}
  - --state-dir={{ $c.stateDir }}
  - --ca-dir={{ $c.caDir }}
  {{- if $v.httpSecrets.secretName }}
  - --secrets-dir={{ $c.secretsDir }}
  {{- end }}
  - --log-level={{ $v.logLevel }}
  {{- if ne $v.audit.sync "batch" }}
  - --audit-sync={{ $v.audit.sync }}
  {{- end }}
  {{- if not $v.audit.echo }}
  - --audit-echo=off
  {{- end }}
env:
  - name: AWS_REGION
    value: {{ $v.region | quote }}
  - name: AWS_STS_REGIONAL_ENDPOINTS
    value: regional
  {{- if eq $v.egress.mode "initContainer" }}
  {{- /* The listener the iptables rules redirect to. An environment variable, not a flag: an Errand
       without the transparent listener ignores it and starts, and redirected connections are refused
       (closed), instead of the sidecar failing on an unknown flag. */}}
  - name: ERRAND_TRANSPARENT_LISTEN
    value: 127.0.0.1:{{ int $v.ports.transparent }}
  {{- end }}
  {{- if eq $v.identity.mode "irsa" }}
  {{- /* https://docs.aws.amazon.com/eks/latest/userguide/pod-configuration.html */}}
  - name: AWS_ROLE_ARN
    value: {{ $v.identity.roleArn | quote }}
  - name: AWS_WEB_IDENTITY_TOKEN_FILE
    value: {{ $c.irsaTokenDir }}/token
  {{- else if eq $v.identity.mode "podIdentity" }}
  - name: AWS_CONTAINER_CREDENTIALS_FULL_URI
    value: {{ $c.podIdentityUrl }}
  - name: AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE
    value: {{ $c.podIdentityTokenDir }}/eks-pod-identity-token
  {{- end }}
  {{- with $v.nodeOptions }}
  - name: NODE_OPTIONS
    value: {{ . | quote }}
  {{- end }}
ports:
  - name: errand-ops
    containerPort: {{ int $v.ports.ops }}
    protocol: TCP
{{- /* The agent starts only once /readyz passes: manifest verified, STS session minted, audit writable. */}}
startupProbe:
  httpGet:
    path: /readyz
    port: errand-ops
  periodSeconds: 1
  timeoutSeconds: 1
  failureThreshold: {{ int $v.startupSeconds }}
readinessProbe:
  httpGet:
    path: /readyz
    port: errand-ops
  periodSeconds: 5
  timeoutSeconds: 1
  failureThreshold: 2
livenessProbe:
  httpGet:
    path: /livez
    port: errand-ops
  periodSeconds: 10
  timeoutSeconds: 1
  failureThreshold: 3
resources:
  {{- toYaml $v.resources | nindent 2 }}
securityContext:
  runAsNonRoot: true
  runAsUser: {{ int $v.runAsUser }}
  runAsGroup: {{ int $group }}
  allowPrivilegeEscalation: false
  privileged: false
  readOnlyRootFilesystem: true
  capabilities:
    drop: [ALL]
  seccompProfile:
    type: RuntimeDefault
volumeMounts:
  - name: errand-task
    mountPath: {{ $c.taskDir }}
    readOnly: true
  - name: errand-state
    mountPath: {{ $c.stateDir }}
  - name: errand-ca
    mountPath: {{ $c.caDir }}
  {{- if $v.httpSecrets.secretName }}
  - name: errand-secrets
    mountPath: {{ $c.secretsDir }}
    readOnly: true
  {{- end }}
  {{- if eq $v.identity.mode "irsa" }}
  - name: errand-aws-token
    mountPath: {{ $c.irsaTokenDir }}
    readOnly: true
  {{- else if eq $v.identity.mode "podIdentity" }}
  - name: errand-aws-token
    mountPath: {{ $c.podIdentityTokenDir }}
    readOnly: true
  {{- end }}
{{- end -}}

{{/*
errand.netinitContainers: egress.mode initContainer only. Plain init containers that load the rules
rendered by errand.objects into the pod's network namespace (iptables-restore reads the file itself, so
the image needs no shell). They need NET_ADMIN and NET_RAW as root: not "restricted", by design.
*/}}
{{- define "errand.netinitContainers" -}}
{{- $root := .root -}}
{{- $v := $root.Values.errand -}}
{{- $c := include "errand.constants" $root | fromYaml -}}
{{- $image := include "errand.image" (dict "image" $v.egress.initContainer.image "appVersion" $root.Chart.AppVersion) -}}
{{- $families := list (list "errand-netinit" "iptables-restore" "rules.v4") -}}
{{- if $v.egress.initContainer.ipv6 -}}
{{- $families = append $families (list "errand-netinit-v6" "ip6tables-restore" "rules.v6") -}}
{{- end -}}
{{- range $families }}
- name: {{ index . 0 }}
  image: {{ $image | quote }}
  imagePullPolicy: {{ $v.egress.initContainer.image.pullPolicy }}
  command: [{{ index . 1 }}, --wait, {{ printf "%s/%s" $c.netinitDir (index . 2) }}]
  securityContext:
    runAsNonRoot: false
    runAsUser: 0
    runAsGroup: 0
    allowPrivilegeEscalation: false
    privileged: false
    readOnlyRootFilesystem: true
    capabilities:
      drop: [ALL]
      add: [NET_ADMIN, NET_RAW]
    seccompProfile:
      type: RuntimeDefault
  resources:
    requests:
      cpu: 10m
      memory: 16Mi
    limits:
      memory: 64Mi
  volumeMounts:
    - name: errand-netinit
      mountPath: {{ $c.netinitDir }}
      readOnly: true
    {{- /* iptables takes its lock under /run. */}}
    - name: errand-netinit-run
      mountPath: /run
{{- end }}
{{- end -}}

{{/* errand.volumes: the volumes Errand adds to the pod. */}}
{{- define "errand.volumes" -}}
{{- $root := .root -}}
{{- $v := $root.Values.errand -}}
{{- $c := include "errand.constants" $root | fromYaml -}}
{{- $info := include "errand.manifestInfo" $root | fromYaml -}}
- name: errand-task
  projected:
    defaultMode: 0440
    sources:
      {{- if eq $info.objectKind "Secret" }}
      - secret:
          name: {{ $info.objectName }}
          items:
            - key: {{ $info.key }}
              path: {{ $info.file }}
      {{- else }}
      - configMap:
          name: {{ $info.objectName }}
          items:
            - key: {{ $info.key }}
              path: {{ $info.file }}
      {{- end }}
      {{- if $v.trustKey.configMap }}
      - configMap:
          name: {{ $v.trustKey.configMap }}
          items:
            - key: {{ $v.trustKey.key }}
              path: {{ $c.trustKeyFile }}
      {{- end }}
{{- /* The use-count journal and the audit log: they survive a restart of Errand, not of the pod. */}}
- name: errand-state
  emptyDir:
    sizeLimit: 256Mi
- name: errand-ca
  emptyDir:
    medium: Memory
    sizeLimit: 4Mi
{{- if $v.httpSecrets.secretName }}
- name: errand-secrets
  secret:
    secretName: {{ $v.httpSecrets.secretName }}
    defaultMode: 0440
{{- end }}
{{- if eq $v.identity.mode "irsa" }}
- name: errand-aws-token
  projected:
    sources:
      - serviceAccountToken:
          audience: sts.amazonaws.com
          expirationSeconds: {{ int $v.identity.tokenExpirationSeconds }}
          path: token
{{- else if eq $v.identity.mode "podIdentity" }}
- name: errand-aws-token
  projected:
    sources:
      - serviceAccountToken:
          audience: pods.eks.amazonaws.com
          expirationSeconds: {{ int $v.identity.tokenExpirationSeconds }}
          path: eks-pod-identity-token
{{- end }}
{{- if eq $v.egress.mode "initContainer" }}
- name: errand-netinit
  configMap:
    name: {{ include "errand.netinitName" $root }}
    defaultMode: 0444
- name: errand-netinit-run
  emptyDir:
    medium: Memory
    sizeLimit: 1Mi
{{- end }}
{{- end -}}

{{/*
errand.podSpec: the agent pod spec with Errand added. Takes (dict "root" $ "spec" <pod spec map>) and
renders the complete pod spec. Agent containers are every entry of containers and initContainers.
*/}}
{{- define "errand.podSpec" -}}
{{- include "errand.validate" . -}}
{{- $root := .root -}}
{{- $v := $root.Values.errand -}}
{{- $c := include "errand.constants" $root | fromYaml -}}
{{- $spec := deepCopy .spec -}}
{{- $agentEnv := include "errand.agentEnv" $root | fromYamlArray -}}
{{- $caMount := dict "name" "errand-ca" "mountPath" $c.caDir "readOnly" true -}}
{{- $agents := dict -}}
{{- range $kind := list "containers" "initContainers" -}}
{{- $out := list -}}
{{- range (index $spec $kind | default list) -}}
{{- $ctr := deepCopy . -}}
{{- $_ := set $ctr "env" (concat $agentEnv ($ctr.env | default list)) -}}
{{- $_ := set $ctr "volumeMounts" (append ($ctr.volumeMounts | default list) $caMount) -}}
{{- $out = append $out $ctr -}}
{{- end -}}
{{- $_ := set $agents $kind $out -}}
{{- end -}}
{{- $errandInit := list -}}
{{- if eq $v.egress.mode "initContainer" -}}
{{- $errandInit = include "errand.netinitContainers" . | fromYamlArray -}}
{{- end -}}
{{- $errandInit = append $errandInit (include "errand.errandContainer" . | fromYaml) -}}
{{- $_ := set $spec "containers" $agents.containers -}}
{{- /* Errand before the agent's own init containers: they too reach the network only through it. */ -}}
{{- $_ := set $spec "initContainers" (concat $errandInit $agents.initContainers) -}}
{{- $_ := set $spec "volumes" (concat ($spec.volumes | default list) (include "errand.volumes" . | fromYamlArray)) -}}
{{- /* Identity for Errand only: no Kubernetes API token anywhere, no shared /proc. */ -}}
{{- $_ := set $spec "automountServiceAccountToken" false -}}
{{- $_ := set $spec "shareProcessNamespace" false -}}
{{- $_ := set $spec "enableServiceLinks" false -}}
{{- /* Projected tokens are readable by a non-root UID only through fsGroup when the pod's containers
     run as different UIDs (KEP-2451); Errand's volumes are mounted in Errand alone. */ -}}
{{- $sc := deepCopy ($spec.securityContext | default dict) -}}
{{- if not (hasKey $sc "fsGroup") -}}
{{- $_ := set $sc "fsGroup" (int $v.runAsGroup) -}}
{{- $_ := set $sc "fsGroupChangePolicy" "OnRootMismatch" -}}
{{- end -}}
{{- $_ := set $spec "securityContext" $sc -}}
{{- toYaml $spec -}}
{{- end -}}

{{/*
errand.podAnnotations: annotations for the pod template. Takes the same dict as errand.podSpec.
*/}}
{{- define "errand.podAnnotations" -}}
{{- $root := .root -}}
{{- $v := $root.Values.errand -}}
{{- $info := include "errand.manifestInfo" $root | fromYaml -}}
{{- $names := list -}}
{{- range $kind := list "containers" "initContainers" -}}
{{- range (index $.spec $kind | default list) -}}
{{- $names = append $names .name -}}
{{- end -}}
{{- end -}}
{{- /* The EKS pod identity webhook injects no AWS identity into the containers listed: every agent
     container, and Errand itself, which gets its identity from this chart. */ -}}
{{- $skip := concat $names (list "errand") -}}
errand.dev/manifest-sha256: {{ $info.sha256 | quote }}
errand.dev/egress: {{ $v.egress.mode | quote }}
errand.dev/errand-uid: {{ int $v.runAsUser | quote }}
eks.amazonaws.com/skip-containers: {{ join "," $skip | quote }}
{{- if $v.unsafeAllowUnsignedManifest }}
errand.dev/unsafe-unsigned-manifest: "true"
{{- end }}
{{- end -}}
