{{- define "errand-task.name" -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "errand-task.serviceAccountName" -}}
{{- .Values.serviceAccount.name | default (include "errand-task.name" .) -}}
{{- end -}}

{{- define "errand-task.labels" -}}
app.kubernetes.io/name: errand-task
app.kubernetes.io/instance: {{ .Release.Name | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | quote }}
{{- end -}}

{{/* The agent's pod spec before Errand is added: what a platform team writes for its agent. */}}
{{- define "errand-task.agentPodSpec" -}}
{{- $a := .Values.agent -}}
restartPolicy: Never
serviceAccountName: {{ include "errand-task.serviceAccountName" . }}
terminationGracePeriodSeconds: {{ int .Values.job.terminationGracePeriodSeconds }}
securityContext:
  runAsNonRoot: true
  seccompProfile:
    type: RuntimeDefault
containers:
  - name: {{ $a.name }}
    image: {{ printf "%s:%s" $a.image.repository $a.image.tag | quote }}
    imagePullPolicy: {{ $a.image.pullPolicy }}
    {{- with $a.command }}
    command:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- with $a.args }}
    args:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- with $a.env }}
    env:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    resources:
      {{- toYaml $a.resources | nindent 6 }}
    securityContext:
      runAsNonRoot: true
      runAsUser: {{ int $a.runAsUser }}
      runAsGroup: {{ int $a.runAsGroup }}
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      capabilities:
        drop: [ALL]
      seccompProfile:
        type: RuntimeDefault
    volumeMounts:
      - name: tmp
        mountPath: /tmp
volumes:
  - name: tmp
    emptyDir:
      sizeLimit: 1Gi
{{- end -}}
