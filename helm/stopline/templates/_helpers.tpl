{{/*
Names. Every template here is namespaced "stopline." because defined templates are global across subcharts.
*/}}

{{- define "stopline.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified name, at most 63 characters. Objects with a suffix truncate the prefix first (see stopline.suffixed).
*/}}
{{- define "stopline.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
<fullname>-<suffix>, at most 63 characters. Usage: include "stopline.suffixed" (list . "peers")
*/}}
{{- define "stopline.suffixed" -}}
{{- $ctx := index . 0 }}
{{- $suffix := index . 1 }}
{{- $max := sub 62 (len $suffix) | int }}
{{- printf "%s-%s" (include "stopline.fullname" $ctx | trunc $max | trimSuffix "-") $suffix }}
{{- end }}

{{- define "stopline.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Selector labels: the immutable subset, name + instance only.
*/}}
{{- define "stopline.selectorLabels" -}}
app.kubernetes.io/name: {{ include "stopline.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Labels that select the pods running stopline (Services, PodDisruptionBudget, PodMonitor, NetworkPolicy).
*/}}
{{- define "stopline.podSelectorLabels" -}}
{{- if .Values.podSelectorLabels }}
{{- toYaml .Values.podSelectorLabels }}
{{- else }}
{{- include "stopline.selectorLabels" . }}
{{- end }}
{{- end }}

{{/*
Standard labels for every object.
*/}}
{{- define "stopline.labels" -}}
helm.sh/chart: {{ include "stopline.chart" . }}
{{ include "stopline.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: stopline
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Labels of the helm test Pod. Its app.kubernetes.io/name differs from the workload's, so no Deployment selector,
Service or PodMonitor picks it up.
*/}}
{{- define "stopline.testSelectorLabels" -}}
app.kubernetes.io/name: {{ printf "%s-test" (include "stopline.name" .) | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Labels with a component. Usage: include "stopline.componentLabels" (list . "proxy")
*/}}
{{- define "stopline.componentLabels" -}}
{{ include "stopline.labels" (index . 0) }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{/*
Image reference. Usage: include "stopline.image" (dict "image" .Values.stopline.image "defaultTag" .Chart.AppVersion)
*/}}
{{- define "stopline.image" -}}
{{- if .image.digest }}
{{- printf "%s@%s" .image.repository .image.digest }}
{{- else }}
{{- printf "%s:%s" .image.repository (default .defaultTag .image.tag | toString) }}
{{- end }}
{{- end }}

{{- define "stopline.secretName" -}}
{{- default (include "stopline.fullname" .) .Values.auth.existingSecret }}
{{- end }}

{{- define "stopline.peersServiceName" -}}
{{- include "stopline.suffixed" (list . "peers") }}
{{- end }}

{{- define "stopline.upstream" -}}
{{- default (printf "http://127.0.0.1:%d" (int .Values.app.port)) .Values.stopline.upstream }}
{{- end }}

{{- define "stopline.peersAddress" -}}
{{- if .Values.peers.address }}
{{- .Values.peers.address }}
{{- else }}
{{- printf "dns:%s.%s.svc.%s:%d" (include "stopline.peersServiceName" .) .Release.Namespace .Values.peers.clusterDomain (int .Values.stopline.adminPort) }}
{{- end }}
{{- end }}

{{/*
host:port for a listen address; IPv6 hosts are bracketed.
*/}}
{{- define "stopline.listen" -}}
{{- $host := index . 0 }}
{{- if contains ":" $host }}
{{- printf "[%s]:%d" $host (int (index . 1)) }}
{{- else }}
{{- printf "%s:%d" $host (int (index . 1)) }}
{{- end }}
{{- end }}

{{/*
Grace-period arithmetic. Native sidecar: stopline gets SIGTERM only after the app has exited, so the drains add up:
  required = preStop sleep + app drain + stopline drain
Classic sidecar: every container gets SIGTERM after its preStop, so the drains overlap:
  required = preStop sleep + max(app drain, stopline drain)
The default grace period is required + margin. A grace period below "required" fails the rendering.
*/}}
{{- define "stopline.preStopSleepSeconds" -}}
{{- if semverCompare ">=1.30.0-0" .Capabilities.KubeVersion.Version }}
{{- .Values.termination.preStopSleepSeconds | int }}
{{- else }}
{{- 0 }}
{{- end }}
{{- end }}

{{- define "stopline.requiredGraceSeconds" -}}
{{- $t := .Values.termination }}
{{- $preStop := include "stopline.preStopSleepSeconds" . | int }}
{{- $app := $t.appDrainSeconds | int }}
{{- $stopline := .Values.stopline.drainTimeoutSeconds | int }}
{{- if .Values.stopline.native }}
{{- add $preStop $app $stopline }}
{{- else }}
{{- add $preStop (max $app $stopline) }}
{{- end }}
{{- end }}

{{- define "stopline.terminationGracePeriodSeconds" -}}
{{- $t := .Values.termination }}
{{- $required := include "stopline.requiredGraceSeconds" . | int }}
{{- if kindIs "invalid" $t.terminationGracePeriodSeconds }}
{{- add $required ($t.marginSeconds | int) }}
{{- else }}
{{- $grace := $t.terminationGracePeriodSeconds | int }}
{{- if lt $grace $required }}
{{- $preStop := include "stopline.preStopSleepSeconds" . | int }}
{{- if .Values.stopline.native }}
{{- fail (printf "termination.terminationGracePeriodSeconds=%d is too small: the native sidecar drains after the app, so it must be at least preStop sleep %ds + app drain %ds (termination.appDrainSeconds) + stopline drain %ds (stopline.drainTimeoutSeconds) = %ds. Raise it, lower the drain times, or leave it null to get %ds (with termination.marginSeconds)." $grace $preStop ($t.appDrainSeconds | int) (.Values.stopline.drainTimeoutSeconds | int) $required (add $required ($t.marginSeconds | int))) }}
{{- else }}
{{- fail (printf "termination.terminationGracePeriodSeconds=%d is too small: it must be at least preStop sleep %ds + max(app drain %ds, stopline drain %ds) = %ds. Raise it, lower the drain times, or leave it null to get %ds (with termination.marginSeconds)." $grace $preStop ($t.appDrainSeconds | int) (.Values.stopline.drainTimeoutSeconds | int) $required (add $required ($t.marginSeconds | int))) }}
{{- end }}
{{- end }}
{{- $grace }}
{{- end }}
{{- end }}

{{/*
Checks across values that the JSON schema cannot express. Included by every template that renders stopline.
*/}}
{{- define "stopline.validate" -}}
{{- $modes := list }}
{{- if .Values.redis.url }}{{ $modes = append $modes "redis.url" }}{{ end }}
{{- if or .Values.redis.sentinel.hosts .Values.redis.sentinel.name }}{{ $modes = append $modes "redis.sentinel" }}{{ end }}
{{- if .Values.redis.cluster.nodes }}{{ $modes = append $modes "redis.cluster.nodes" }}{{ end }}
{{- if and .Values.redis.url .Values.redis.tls }}
{{- fail "redis.tls applies to Sentinel and Cluster modes; with redis.url use a rediss:// URL" }}
{{- end }}
{{- if gt (len $modes) 1 }}
{{- fail (printf "set only one Redis mode, not %s" (join " and " $modes)) }}
{{- end }}
{{- if and (or .Values.redis.sentinel.hosts .Values.redis.sentinel.name) (not (and .Values.redis.sentinel.hosts .Values.redis.sentinel.name)) }}
{{- fail "Redis Sentinel needs both redis.sentinel.hosts and redis.sentinel.name" }}
{{- end }}
{{- if and .Values.metrics.podMonitor.enabled .Values.metrics.serviceMonitor.enabled }}
{{- fail "enable either metrics.podMonitor or metrics.serviceMonitor, not both: they would scrape every replica twice" }}
{{- end }}
{{- if and (not .Values.deployment.enabled) (not .Values.podSelectorLabels) }}
{{- $selecting := list }}
{{- if .Values.service.enabled }}{{ $selecting = append $selecting "service.enabled" }}{{ end }}
{{- if .Values.peers.enabled }}{{ $selecting = append $selecting "peers.enabled" }}{{ end }}
{{- if .Values.networkPolicy.enabled }}{{ $selecting = append $selecting "networkPolicy.enabled" }}{{ end }}
{{- if .Values.metrics.podMonitor.enabled }}{{ $selecting = append $selecting "metrics.podMonitor.enabled" }}{{ end }}
{{- if $selecting }}
{{- fail (printf "deployment.enabled=false needs podSelectorLabels: without them %s would select the chart's own pod labels, which no pod carries once the example Deployment is off. Set podSelectorLabels to labels of your pods that run stopline (e.g. app: chat-api), or turn those off" (join ", " $selecting)) }}
{{- end }}
{{- end }}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.service.enabled) }}
{{- fail "metrics.serviceMonitor needs service.enabled=true (it scrapes the Service's metrics port)" }}
{{- end }}
{{- if and (not (kindIs "invalid" .Values.podDisruptionBudget.minAvailable)) (not (kindIs "invalid" .Values.podDisruptionBudget.maxUnavailable)) }}
{{- fail "set either podDisruptionBudget.minAvailable or podDisruptionBudget.maxUnavailable (set the other to null)" }}
{{- end }}
{{- if and .Values.podDisruptionBudget.enabled (kindIs "invalid" .Values.podDisruptionBudget.minAvailable) (kindIs "invalid" .Values.podDisruptionBudget.maxUnavailable) }}
{{- fail "podDisruptionBudget needs minAvailable or maxUnavailable" }}
{{- end }}
{{- if eq (int .Values.stopline.port) (int .Values.stopline.adminPort) }}
{{- fail "stopline.port and stopline.adminPort must differ" }}
{{- end }}
{{- if and (not .Values.stopline.upstream) (or (eq (int .Values.app.port) (int .Values.stopline.port)) (eq (int .Values.app.port) (int .Values.stopline.adminPort))) }}
{{- fail (printf "app.port %d collides with one of stopline's ports (%d, %d): the containers share the pod's network" (int .Values.app.port) (int .Values.stopline.port) (int .Values.stopline.adminPort)) }}
{{- end }}
{{- $managed := list "STOPLINE_LISTEN" "STOPLINE_ADMIN_LISTEN" "STOPLINE_UPSTREAM" "STOPLINE_DRAIN_TIMEOUT_S" "STOPLINE_LOG_LEVEL" "STOPLINE_PEERS" "STOPLINE_PEER_SECRET" "STOPLINE_CANCEL_AUTH" "STOPLINE_CANCEL_SECRET" "STOPLINE_REDIS_URL" "STOPLINE_REDIS_SENTINELS" "STOPLINE_REDIS_SENTINEL_NAME" "STOPLINE_REDIS_CLUSTER_NODES" "STOPLINE_REDIS_PASSWORD" "STOPLINE_REDIS_PREFIX" "STOPLINE_REDIS_TLS" "STOPLINE_DIALECT_ROUTES" }}
{{- range $key, $_ := .Values.stopline.config }}
{{- if has $key $managed }}
{{- fail (printf "stopline.config.%s is set by the chart; use the matching chart value instead (see README.md)" $key) }}
{{- end }}
{{- end }}
{{- if .Values.otel.enabled }}
{{- if not .Values.otel.endpoint }}
{{- fail "otel.enabled=true needs otel.endpoint, the collector's OTLP address (e.g. http://otel-collector.observability:4318)" }}
{{- end }}
{{- $otel := include "stopline.otelKeys" . | fromJsonArray }}
{{- range $key, $_ := .Values.stopline.config }}
{{- if has $key $otel }}
{{- fail (printf "stopline.config.%s is set by otel (otel.enabled=true); set it there, or turn otel off and set every OTEL_* yourself" $key) }}
{{- end }}
{{- end }}
{{- range .Values.stopline.env }}
{{- if has .name $otel }}
{{- fail (printf "stopline.env sets %s, which otel sets too (otel.enabled=true); set it there, or turn otel off and set every OTEL_* yourself" .name) }}
{{- end }}
{{- end }}
{{- end }}
{{- $_ := include "stopline.terminationGracePeriodSeconds" . }}
{{- end }}

{{/*
The OTEL_* variables the otel block renders with these values, as a JSON list (the keys stopline.config and
stopline.env may then not set).
*/}}
{{- define "stopline.otelKeys" -}}
{{- $keys := list "OTEL_EXPORTER_OTLP_ENDPOINT" "OTEL_EXPORTER_OTLP_PROTOCOL" "OTEL_SERVICE_NAME" "OTEL_TRACES_SAMPLER" "OTEL_RESOURCE_ATTRIBUTES" }}
{{- if ne (toString .Values.otel.samplerArg) "" }}{{ $keys = append $keys "OTEL_TRACES_SAMPLER_ARG" }}{{ end }}
{{- if .Values.otel.headers.existingSecret }}{{ $keys = append $keys "OTEL_EXPORTER_OTLP_HEADERS" }}{{ end }}
{{- toJson $keys }}
{{- end }}

{{/*
OTEL_RESOURCE_ATTRIBUTES: where the span came from in Kubernetes (POD_NAMESPACE and POD_NAME are set before it in the
container's env, so $(...) expands), then otel.resourceAttributes in key order.
*/}}
{{- define "stopline.otelResourceAttributes" -}}
{{- $attrs := list "k8s.namespace.name=$(POD_NAMESPACE)" "k8s.pod.name=$(POD_NAME)" (printf "k8s.container.name=%s" .Values.stopline.name) }}
{{- range $k, $v := .Values.otel.resourceAttributes }}
{{- $attrs = append $attrs (printf "%s=%s" $k (toString $v)) }}
{{- end }}
{{- join "," $attrs }}
{{- end }}

{{/*
The data of the chart's live Secret as JSON ({} when lookup finds none: first install, `helm template`, Argo CD).
*/}}
{{- define "stopline.liveSecretData" -}}
{{- (lookup "v1" "Secret" .Release.Namespace (include "stopline.fullname" .)).data | default dict | toJson }}
{{- end }}

{{/*
The secret keys this render generates anew: chart-managed (no value given, no auth.existingSecret) and not found in
the live Secret. A JSON list, for NOTES.txt.
*/}}
{{- define "stopline.generatedSecretKeys" -}}
{{- $out := list }}
{{- if not .Values.auth.existingSecret }}
{{- $live := include "stopline.liveSecretData" . | fromJson }}
{{- $keys := .Values.auth.secretKeys }}
{{- if and (not .Values.auth.peerSecret) (not (hasKey $live $keys.peerSecret)) }}{{ $out = append $out $keys.peerSecret }}{{ end }}
{{- if and (eq .Values.auth.cancelAuth "token") (not .Values.auth.cancelSecret) (not (hasKey $live $keys.cancelSecret)) }}{{ $out = append $out $keys.cancelSecret }}{{ end }}
{{- end }}
{{- toJson $out }}
{{- end }}

{{/*
The stopline container alone, as a list item (no leading "- " indentation applied by the caller beyond nindent).
Pass a context whose .Values are this chart's values: "." inside this chart, or ".Subcharts.stopline" from a parent
chart that depends on it:
  initContainers:
    {{- include "stopline.sidecar" .Subcharts.stopline | nindent 4 }}
With stopline.native=true the item carries restartPolicy: Always and must go under initContainers; with
stopline.native=false it goes under containers.
*/}}
{{- define "stopline.sidecar" -}}
{{- include "stopline.validate" . }}
{{- $s := .Values.stopline }}
{{- $preStop := include "stopline.preStopSleepSeconds" . | int -}}
- name: {{ $s.name }}
  image: {{ include "stopline.image" (dict "image" $s.image "defaultTag" .Chart.AppVersion) | quote }}
  imagePullPolicy: {{ $s.image.pullPolicy }}
  {{- if $s.native }}
  restartPolicy: Always
  {{- end }}
  ports:
    - name: stopline-http
      containerPort: {{ $s.port }}
      protocol: TCP
    - name: stopline-admin
      containerPort: {{ $s.adminPort }}
      protocol: TCP
  env:
    - name: POD_NAME
      valueFrom:
        fieldRef:
          fieldPath: metadata.name
    - name: POD_NAMESPACE
      valueFrom:
        fieldRef:
          fieldPath: metadata.namespace
    - name: STOPLINE_LISTEN
      value: {{ include "stopline.listen" (list $s.listenHost $s.port) | quote }}
    - name: STOPLINE_ADMIN_LISTEN
      value: {{ include "stopline.listen" (list $s.listenHost $s.adminPort) | quote }}
    - name: STOPLINE_UPSTREAM
      value: {{ include "stopline.upstream" . | quote }}
    - name: STOPLINE_DRAIN_TIMEOUT_S
      value: {{ $s.drainTimeoutSeconds | int | quote }}
    - name: STOPLINE_LOG_LEVEL
      value: {{ $s.logLevel | quote }}
    {{- if .Values.peers.enabled }}
    - name: STOPLINE_PEERS
      value: {{ include "stopline.peersAddress" . | quote }}
    {{- end }}
    - name: STOPLINE_PEER_SECRET
      valueFrom:
        secretKeyRef:
          name: {{ include "stopline.secretName" . }}
          key: {{ .Values.auth.secretKeys.peerSecret }}
    - name: STOPLINE_CANCEL_AUTH
      value: {{ .Values.auth.cancelAuth | quote }}
    {{- if eq .Values.auth.cancelAuth "token" }}
    - name: STOPLINE_CANCEL_SECRET
      valueFrom:
        secretKeyRef:
          name: {{ include "stopline.secretName" . }}
          key: {{ .Values.auth.secretKeys.cancelSecret }}
    {{- end }}
    {{- with .Values.redis }}
    {{- if .url }}
    - name: STOPLINE_REDIS_URL
      value: {{ .url | quote }}
    {{- else if .sentinel.hosts }}
    {{- if .tls }}
    - name: STOPLINE_REDIS_TLS
      value: "true"
    {{- end }}
    - name: STOPLINE_REDIS_SENTINELS
      value: {{ join "," .sentinel.hosts | quote }}
    - name: STOPLINE_REDIS_SENTINEL_NAME
      value: {{ .sentinel.name | quote }}
    {{- else if .cluster.nodes }}
    {{- if .tls }}
    - name: STOPLINE_REDIS_TLS
      value: "true"
    {{- end }}
    - name: STOPLINE_REDIS_CLUSTER_NODES
      value: {{ join "," .cluster.nodes | quote }}
    {{- end }}
    {{- end }}
    {{- if or .Values.redis.url .Values.redis.sentinel.hosts .Values.redis.cluster.nodes }}
    {{- if or .Values.auth.existingSecret .Values.redis.password }}
    - name: STOPLINE_REDIS_PASSWORD
      valueFrom:
        secretKeyRef:
          name: {{ include "stopline.secretName" . }}
          key: {{ .Values.auth.secretKeys.redisPassword }}
          optional: true
    {{- end }}
    - name: STOPLINE_REDIS_PREFIX
      value: {{ .Values.redis.prefix | quote }}
    {{- end }}
    {{- with $s.dialectRoutes }}
    - name: STOPLINE_DIALECT_ROUTES
      value: {{ include "stopline.dialectRoutes" . | quote }}
    {{- end }}
    {{- with .Values.otel }}
    {{- if .enabled }}
    - name: OTEL_EXPORTER_OTLP_ENDPOINT
      value: {{ .endpoint | quote }}
    - name: OTEL_EXPORTER_OTLP_PROTOCOL
      value: {{ .protocol | quote }}
    - name: OTEL_SERVICE_NAME
      value: {{ default (include "stopline.fullname" $) .serviceName | quote }}
    - name: OTEL_TRACES_SAMPLER
      value: {{ .sampler | quote }}
    {{- if ne (toString .samplerArg) "" }}
    - name: OTEL_TRACES_SAMPLER_ARG
      value: {{ toString .samplerArg | quote }}
    {{- end }}
    - name: OTEL_RESOURCE_ATTRIBUTES
      value: {{ include "stopline.otelResourceAttributes" $ | quote }}
    {{- if .headers.existingSecret }}
    - name: OTEL_EXPORTER_OTLP_HEADERS
      valueFrom:
        secretKeyRef:
          name: {{ .headers.existingSecret }}
          key: {{ .headers.secretKey }}
    {{- end }}
    {{- end }}
    {{- end }}
    {{- range $key, $value := $s.config }}
    - name: {{ $key }}
      value: {{ $value | toString | quote }}
    {{- end }}
    {{- with $s.env }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with $s.envFrom }}
  envFrom:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  startupProbe:
    httpGet:
      path: /healthz
      port: stopline-admin
    periodSeconds: {{ $s.probes.startup.periodSeconds }}
    timeoutSeconds: {{ $s.probes.startup.timeoutSeconds }}
    failureThreshold: {{ $s.probes.startup.failureThreshold }}
  readinessProbe:
    httpGet:
      path: /readyz
      port: stopline-admin
    periodSeconds: {{ $s.probes.readiness.periodSeconds }}
    timeoutSeconds: {{ $s.probes.readiness.timeoutSeconds }}
    failureThreshold: {{ $s.probes.readiness.failureThreshold }}
    successThreshold: {{ $s.probes.readiness.successThreshold }}
  livenessProbe:
    httpGet:
      path: /healthz
      port: stopline-admin
    periodSeconds: {{ $s.probes.liveness.periodSeconds }}
    timeoutSeconds: {{ $s.probes.liveness.timeoutSeconds }}
    failureThreshold: {{ $s.probes.liveness.failureThreshold }}
  {{- if gt $preStop 0 }}
  lifecycle:
    preStop:
      sleep:
        seconds: {{ $preStop }}
  {{- end }}
  {{- with $s.resources }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- toYaml $s.securityContext | nindent 4 }}
  {{- with $s.volumeMounts }}
  volumeMounts:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}

{{/*
STOPLINE_DIALECT_ROUTES from stopline.dialectRoutes: "METHOD /path=dialect,..." in the order given.
*/}}
{{- define "stopline.dialectRoutes" -}}
{{- $parts := list }}
{{- range . }}{{ $parts = append $parts (printf "%s=%s" .route .dialect) }}{{ end }}
{{- join "," $parts }}
{{- end }}

{{/*
Labels a pod needs so the chart's Services, PodMonitor and NetworkPolicy find it: podSelectorLabels, or the chart's
selector labels when that is empty. For a parent chart's pod template:
  template:
    metadata:
      labels:
        {{- include "stopline.podLabels" .Subcharts.stopline | nindent 8 }}
*/}}
{{- define "stopline.podLabels" -}}
{{ include "stopline.podSelectorLabels" . }}
{{- end }}

{{/*
The lifecycle block of the app container beside stopline: a preStop sleep of termination.preStopSleepSeconds
(kubelet sleep action, no shell; left out before Kubernetes 1.30), so the app keeps serving while the pod's
endpoints are removed. Empty when there is nothing to sleep. For a parent chart's app container:
  containers:
    - name: api
      {{- include "stopline.appLifecycle" .Subcharts.stopline | nindent 6 }}
*/}}
{{- define "stopline.appLifecycle" -}}
{{- $preStop := include "stopline.preStopSleepSeconds" . | int }}
{{- if gt $preStop 0 -}}
lifecycle:
  preStop:
    sleep:
      seconds: {{ $preStop }}
{{- end }}
{{- end }}

{{/*
Seconds the app container may spend draining its streams after SIGTERM (termination.appDrainSeconds), the term of
the grace period budgeted for it. Print it into the app's own setting, e.g. an environment variable:
  env:
    - name: GRACEFUL_SHUTDOWN_SECONDS
      value: {{ include "stopline.appDrainSeconds" .Subcharts.stopline | quote }}
*/}}
{{- define "stopline.appDrainSeconds" -}}
{{- .Values.termination.appDrainSeconds | int }}
{{- end }}

{{/*
The alert rule groups of files/alerts.yaml with each runbook_url rebased onto metrics.prometheusRule.runbookBaseUrl
(<base>#<anchor>), or dropped when it is empty: a link to a page that is not the operator's copy of the runbooks
helps nobody. Everything else passes unchanged, {{ $labels }} and {{ $value }} included (no tpl).
*/}}
{{- define "stopline.alertGroups" -}}
{{- $rules := .Files.Get "files/alerts.yaml" | fromYaml }}
{{- if hasKey $rules "Error" }}
{{- fail (printf "files/alerts.yaml is not valid YAML: %s" $rules.Error) }}
{{- end }}
{{- $base := .Values.metrics.prometheusRule.runbookBaseUrl }}
{{- $groups := get $rules "groups" | default list }}
{{- range $g := $groups }}
{{- range $r := (get $g "rules" | default list) }}
{{- $a := get $r "annotations" }}
{{- if and $a (hasKey $a "runbook_url") }}
{{- if $base }}
{{- $_ := set $a "runbook_url" (printf "%s#%s" $base (splitList "#" $a.runbook_url | last)) }}
{{- else }}
{{- $_ := unset $a "runbook_url" }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- toYaml $groups }}
{{- end }}
