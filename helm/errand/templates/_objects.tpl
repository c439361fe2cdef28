{{/*
The objects that go with a task pod, for charts that use errand.podSpec:
  {{ include "errand.objects" $ }}
renders the per-task manifest object (when errand.manifest.content is set), the egress rules ConfigMap
(egress.mode initContainer) and the NetworkPolicy (networkPolicy.enabled), as YAML documents.
*/}}
{{- define "errand.objects" -}}
{{- $v := .Values.errand -}}
{{- if $v.manifest.content }}
---
{{ include "errand.manifestObject" . }}
{{- end }}
{{- if eq $v.egress.mode "initContainer" }}
---
{{ include "errand.netinitConfigMap" . }}
{{- end }}
{{- if $v.networkPolicy.enabled }}
---
{{ include "errand.networkPolicy" . }}
{{- end }}
{{- end -}}

{{- define "errand.labels" -}}
app.kubernetes.io/name: errand
app.kubernetes.io/instance: {{ .Release.Name | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{- define "errand.netinitName" -}}
{{- printf "%s-errand-netinit" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The signed manifest of one task: immutable, named after its hash, read by Errand alone. */}}
{{- define "errand.manifestObject" -}}
{{- $v := .Values.errand -}}
{{- $info := include "errand.manifestInfo" . | fromYaml -}}
apiVersion: v1
kind: {{ $info.objectKind }}
metadata:
  name: {{ $info.objectName }}
  labels:
    {{- include "errand.labels" . | nindent 4 }}
  annotations:
    errand.dev/manifest-sha256: {{ $info.sha256 | quote }}
immutable: true
{{- if eq $info.objectKind "Secret" }}
type: Opaque
data:
  {{ $info.key }}: {{ $v.manifest.content | trim | b64enc }}
{{- else }}
data:
  {{ $info.key }}: {{ $v.manifest.content | trim | quote }}
{{- end }}
{{- end -}}

{{/*
The egress rules, in iptables-restore format, for the pod's own network namespace. Every TCP connection
to port 443 or 80 that is not Errand's (owner match on its UID) and not to loopback is redirected to
Errand's transparent listener, which cannot learn the original port (no SO_ORIGINAL_DST) and takes
them as 443 and 80; everything else the agent sends off loopback is refused (other ports too, rather
than being sent to the wrong port), except DNS if allowAgentDns and
replies on connections others opened to the pod (kubelet probes of the agent). An agent's own
connection cannot become ESTABLISHED off loopback: its first packet was redirected or refused.
iptables-extensions(8): owner, REDIRECT (locally generated packets go to 127.0.0.1), REJECT.
*/}}
{{- define "errand.netinitConfigMap" -}}
{{- $v := .Values.errand -}}
{{- $uid := int $v.runAsUser -}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "errand.netinitName" . }}
  labels:
    {{- include "errand.labels" . | nindent 4 }}
data:
  rules.v4: |
    *nat
    :ERRAND_REDIRECT - [0:0]
    -A OUTPUT -p tcp -j ERRAND_REDIRECT
    -A ERRAND_REDIRECT -m owner --uid-owner {{ $uid }} -j RETURN
    -A ERRAND_REDIRECT -d 127.0.0.0/8 -j RETURN
    -A ERRAND_REDIRECT -p tcp --dport 443 -j REDIRECT --to-ports {{ int $v.ports.transparent }}
    -A ERRAND_REDIRECT -p tcp --dport 80 -j REDIRECT --to-ports {{ int $v.ports.transparent }}
    COMMIT
    *filter
    :ERRAND_EGRESS - [0:0]
    -A OUTPUT -j ERRAND_EGRESS
    -A ERRAND_EGRESS -o lo -j RETURN
    -A ERRAND_EGRESS -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN
    -A ERRAND_EGRESS -m owner --uid-owner {{ $uid }} -j RETURN
    {{- if $v.egress.allowAgentDns }}
    -A ERRAND_EGRESS -p udp --dport 53 -j RETURN
    {{- end }}
    -A ERRAND_EGRESS -p tcp -j REJECT --reject-with tcp-reset
    -A ERRAND_EGRESS -j REJECT --reject-with icmp-port-unreachable
    COMMIT
  {{- /* Errand's transparent listener is IPv4 loopback: the agent gets no IPv6 egress at all. */}}
  rules.v6: |
    *filter
    :ERRAND_EGRESS - [0:0]
    -A OUTPUT -j ERRAND_EGRESS
    -A ERRAND_EGRESS -o lo -j RETURN
    -A ERRAND_EGRESS -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN
    -A ERRAND_EGRESS -m owner --uid-owner {{ $uid }} -j RETURN
    {{- if $v.egress.allowAgentDns }}
    -A ERRAND_EGRESS -p udp --dport 53 -j RETURN
    {{- end }}
    -A ERRAND_EGRESS -p tcp -j REJECT --reject-with tcp-reset
    -A ERRAND_EGRESS -j REJECT --reject-with icmp6-port-unreachable
    COMMIT
{{- end -}}

{{/*
The backstop when the pod-level rules are missing or bypassed: egress only to DNS and to the listed
ports outside link-local space (169.254.0.0/16 holds the instance metadata service; fd00:ec2::/32 its
IPv6 address and the Pod Identity agent's), and ingress only to the ops port from metricsFrom.
*/}}
{{- define "errand.networkPolicy" -}}
{{- $v := .Values.errand -}}
{{- $np := $v.networkPolicy -}}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ printf "%s-errand" .Release.Name | trunc 63 | trimSuffix "-" }}
  labels:
    {{- include "errand.labels" . | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      {{- include "errand.podLabels" . | nindent 6 }}
  policyTypes: [Ingress, Egress]
  {{- if $np.metricsFrom }}
  ingress:
    - from:
        {{- toYaml $np.metricsFrom | nindent 8 }}
      ports:
        - port: {{ int $v.ports.ops }}
          protocol: TCP
  {{- else }}
  ingress: []
  {{- end }}
  egress:
    - to:
        {{- toYaml $np.dnsTo | nindent 8 }}
      ports:
        - port: 53
          protocol: UDP
        - port: 53
          protocol: TCP
    {{- if $np.egressPorts }}
    - to:
        - ipBlock:
            cidr: 0.0.0.0/0
            except:
              - 169.254.0.0/16
              {{- range $np.exceptCidrs }}
              - {{ . }}
              {{- end }}
        - ipBlock:
            cidr: ::/0
            except:
              - fe80::/10
              - fd00:ec2::/32
      ports:
        {{- range $np.egressPorts }}
        - port: {{ int . }}
          protocol: TCP
        {{- end }}
    {{- end }}
    {{- if eq $v.identity.mode "podIdentity" }}
    {{- /* The EKS Pod Identity agent only: it answers Errand's token, which the agent never holds. */}}
    - to:
        - ipBlock:
            cidr: 169.254.170.23/32
        - ipBlock:
            cidr: fd00:ec2::23/128
      ports:
        - port: 80
          protocol: TCP
    {{- end }}
{{- end -}}
