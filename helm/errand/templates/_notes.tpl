{{/*
errand.notes: what the operator should check once the pod runs. Takes (dict "root" $ "podSelector"
"<label selector of the task pod>" "agentContainers" (list "<name>" ...)).
*/}}
{{- define "errand.notes" -}}
{{- $root := .root -}}
{{- $v := $root.Values.errand -}}
{{- $ns := $root.Release.Namespace -}}
{{- if $v.unsafeAllowUnsignedManifest }}
WARNING: errand.unsafeAllowUnsignedManifest is on. Errand runs an UNSIGNED manifest: anyone who can
write the manifest object decides what the agent may do. Development only.

{{- end }}
Errand runs as a native sidecar in the task pod (init container "errand"). The agent containers
({{ join ", " .agentContainers }}) start only after Errand's /readyz passes.

1. Check that no AWS credential reached the agent. The pod as admitted (after every mutating webhook):

  POD=$(kubectl -n {{ $ns }} get pods -l {{ .podSelector }} -o jsonpath='{.items[0].metadata.name}')
  kubectl -n {{ $ns }} get pod "$POD" -o jsonpath='{range .spec.containers[*]}{.name}{": "}{range .env[*]}{.name}{" "}{end}{"\n"}{end}'

  Each agent container must list AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (placeholders), and none of
  AWS_SESSION_TOKEN, AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE, AWS_CONTAINER_CREDENTIALS_FULL_URI or
  AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE. No agent container may mount a token volume:

  kubectl -n {{ $ns }} get pod "$POD" -o jsonpath='{range .spec.containers[*]}{.name}{": "}{range .volumeMounts[*]}{.name}{" "}{end}{"\n"}{end}'

  (expect errand-ca and your own volumes only; never aws-iam-token, eks-pod-identity-token,
  errand-aws-token or kube-api-access-*). From inside a running agent container:

  kubectl -n {{ $ns }} exec "$POD" -c {{ first .agentContainers }} -- env | grep '^AWS_'

  AWS_ACCESS_KEY_ID must read {{ (include "errand.constants" $root | fromYaml).placeholderAccessKeyId }}.

2. Errand's decisions are its log lines (one hash-chained audit record per call):

  kubectl -n {{ $ns }} logs "$POD" -c errand

3. Egress enforcement: {{ $v.egress.mode }}.
{{- if eq $v.egress.mode "none" }} The agent reaches Errand because its clients honour AWS_ENDPOINT_URL and
   HTTP(S)_PROXY; a client that ignores them is stopped only by the NetworkPolicy
   ({{ ternary "enabled" "DISABLED" $v.networkPolicy.enabled }}). Use egress.mode initContainer or cni to
   enforce it.
{{- else if eq $v.egress.mode "initContainer" }} iptables rules redirect every TCP connection to ports
   443 and 80 of every UID but {{ int $v.runAsUser }} to Errand and refuse the rest. The errand-netinit
   init containers hold NET_ADMIN, so this pod does not meet the "restricted" Pod Security level.
{{- else }} your CNI plugin must redirect TCP ports 443 and 80 of every UID but {{ int $v.runAsUser }} (the
   errand.dev/errand-uid annotation) to 127.0.0.1:{{ int $v.ports.transparent }} and refuse the rest.
{{- end }}
{{- end -}}
