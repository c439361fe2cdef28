{{/*
errand.validate: refuses, with a message naming the fix, every pod Errand cannot protect. Called by
errand.podSpec; takes (dict "root" $ "spec" <the agent pod spec as a map>). Renders nothing.
*/}}
{{- define "errand.validate" -}}
{{- $root := .root -}}
{{- $v := $root.Values.errand -}}
{{- $spec := .spec -}}

{{- /* Native sidecars (initContainers[].restartPolicy: Always) are on by default from Kubernetes 1.29
     (KEP-753). On older clusters the field is dropped and the agent would start without Errand. */ -}}
{{- if not (semverCompare ">=1.29.0-0" $root.Capabilities.KubeVersion.Version) -}}
{{- fail (printf "errand: Kubernetes %s is too old: Errand runs as a native sidecar (an init container with restartPolicy: Always), which needs Kubernetes 1.29 or newer (helm template assumes an old version unless given --kube-version)" $root.Capabilities.KubeVersion.Version) -}}
{{- end -}}

{{- if not $v.region -}}
{{- fail "errand: set errand.region to the task's AWS region (for example us-east-1)" -}}
{{- end -}}

{{- /* The manifest: exactly one source; signed unless the unsafe switch is on. */ -}}
{{- $m := $v.manifest -}}
{{- $sources := 0 -}}
{{- range (list $m.content $m.existingSecret $m.existingConfigMap) -}}
{{- if . }}{{ $sources = add1 $sources }}{{ end -}}
{{- end -}}
{{- if ne (int $sources) 1 -}}
{{- fail "errand: set exactly one of errand.manifest.content (the signed manifest, a compact JWS), errand.manifest.existingSecret or errand.manifest.existingConfigMap" -}}
{{- end -}}
{{- $info := include "errand.manifestInfo" $root | fromYaml -}}
{{- if and $m.content (not $info.signed) (not $v.unsafeAllowUnsignedManifest) -}}
{{- fail "errand: errand.manifest.content is not a compact JWS; sign it with `errand manifest sign` (an unsigned manifest runs only with errand.unsafeAllowUnsignedManifest, for development)" -}}
{{- end -}}
{{- if and (not $m.content) (not $m.sha256) -}}
{{- fail "errand: with an existing manifest object, set errand.manifest.sha256 to the manifest's sha256 (`errand manifest explain` prints it); it becomes the errand.dev/manifest-sha256 annotation" -}}
{{- end -}}
{{- if and (not $v.unsafeAllowUnsignedManifest) (not $v.trustKey.configMap) -}}
{{- fail "errand: set errand.trustKey.configMap to the ConfigMap holding the orchestrator's public key that signs task manifests" -}}
{{- end -}}

{{- if and (eq $v.identity.mode "irsa") (not $v.identity.roleArn) -}}
{{- fail "errand: errand.identity.mode is irsa: set errand.identity.roleArn to the IAM role Errand assumes with its web identity token" -}}
{{- end -}}

{{- /* The agent pod spec. */ -}}
{{- if not $spec.containers -}}
{{- fail "errand: the agent pod spec has no containers" -}}
{{- end -}}
{{- range $field := list "hostNetwork" "hostPID" "hostIPC" -}}
{{- if index $spec $field -}}
{{- fail (printf "errand: the agent pod spec sets %s: true; the agent would share the node's namespaces and bypass Errand" $field) -}}
{{- end -}}
{{- end -}}
{{- if $spec.shareProcessNamespace -}}
{{- fail "errand: the agent pod spec sets shareProcessNamespace: true; the agent could read Errand's memory and files through /proc" -}}
{{- end -}}
{{- if $spec.automountServiceAccountToken -}}
{{- fail "errand: the agent pod spec sets automountServiceAccountToken: true; the Kubernetes API token would reach the agent containers" -}}
{{- end -}}

{{- $reserved := include "errand.reservedNames" . | fromYaml -}}
{{- range $spec.volumes -}}
{{- if has .name $reserved.volumes -}}
{{- fail (printf "errand: the agent pod spec has a volume named %s; the names %s are Errand's" .name (join ", " $reserved.volumes)) -}}
{{- end -}}
{{- if .projected -}}
{{- range .projected.sources -}}
{{- if .serviceAccountToken -}}
{{- fail "errand: the agent pod spec has a projected service-account token volume; only Errand may hold a token that AWS or the Kubernetes API accepts" -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- $credentialVariables := include "errand.credentialVariables" . | fromYamlArray -}}
{{- $errandVariables := list -}}
{{- range (include "errand.agentEnv" $root | fromYamlArray) -}}
{{- $errandVariables = append $errandVariables .name -}}
{{- end -}}
{{- $podUid := dig "securityContext" "runAsUser" nil $spec -}}
{{- range $kind := list "containers" "initContainers" -}}
{{- range (index $spec $kind | default list) -}}
{{- $name := .name -}}
{{- if has $name $reserved.containers -}}
{{- fail (printf "errand: the agent pod spec has a container named %s; the names %s are Errand's" $name (join ", " $reserved.containers)) -}}
{{- end -}}
{{- if .restartPolicy -}}
{{- fail (printf "errand: agent init container %s sets restartPolicy; only Errand runs as a sidecar in a task pod" $name) -}}
{{- end -}}
{{- if .envFrom -}}
{{- fail (printf "errand: agent container %s uses envFrom; list its variables in env, so the chart can check that no AWS credential reaches it" $name) -}}
{{- end -}}
{{- range .env -}}
{{- if has .name $credentialVariables -}}
{{- if not (has .name $errandVariables) -}}
{{- fail (printf "errand: agent container %s sets %s; AWS credentials belong to Errand only" $name .name) -}}
{{- end -}}
{{- end -}}
{{- if has .name $errandVariables -}}
{{- fail (printf "errand: agent container %s sets %s, which Errand sets for every agent container" $name .name) -}}
{{- end -}}
{{- end -}}
{{- range .volumeMounts -}}
{{- if has .name $reserved.volumes -}}
{{- fail (printf "errand: agent container %s mounts %s; the chart mounts only errand-ca, read-only, in agent containers" $name .name) -}}
{{- end -}}
{{- end -}}
{{- $sc := .securityContext | default dict -}}
{{- if $sc.privileged -}}
{{- fail (printf "errand: agent container %s is privileged; it could change the pod's network rules and reach the node" $name) -}}
{{- end -}}
{{- range (dig "capabilities" "add" list $sc) -}}
{{- if has (upper . | trimPrefix "CAP_") (list "NET_ADMIN" "NET_RAW" "SYS_ADMIN" "SYS_PTRACE" "ALL") -}}
{{- fail (printf "errand: agent container %s adds capability %s; the agent must not be able to change or bypass the pod's network rules" $name .) -}}
{{- end -}}
{{- end -}}
{{- /* The egress rules tell Errand's traffic from the agent's by UID: an unknown UID could be Errand's. */ -}}
{{- $uid := $podUid -}}
{{- if hasKey $sc "runAsUser" }}{{ $uid = $sc.runAsUser }}{{ end -}}
{{- if kindIs "invalid" $uid -}}
{{- fail (printf "errand: set securityContext.runAsUser on agent container %s (or on the pod); Errand must know it differs from its own UID %d" $name (int $v.runAsUser)) -}}
{{- end -}}
{{- if eq (int $uid) (int $v.runAsUser) -}}
{{- fail (printf "errand: agent container %s runs as UID %d, Errand's UID; give the agent a different UID (or change errand.runAsUser) so its traffic cannot pass as Errand's" $name (int $uid)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
