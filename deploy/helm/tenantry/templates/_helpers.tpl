{{/* Names: Kubernetes limits names to 63 characters (DNS labels). */}}
{{- define "tenantry.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "tenantry.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "tenantry.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "tenantry.postgresql.fullname" -}}
{{- printf "%s-postgresql" (include "tenantry.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels: the recommended app.kubernetes.io set. */}}
{{- define "tenantry.labels" -}}
helm.sh/chart: {{ include "tenantry.chart" . }}
{{ include "tenantry.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Every pod of the release carries these; a component label tells them apart. */}}
{{- define "tenantry.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tenantry.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "tenantry.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "tenantry.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
An image reference from {registry, repository, tag, digest}: global.imageRegistry replaces the
registry (air-gapped mirrors); a digest pins the image and the tag is then left out.
Call with (dict "image" .Values.image "global" .Values.global "defaultTag" .Chart.AppVersion).
*/}}
{{- define "tenantry.imageRef" -}}
{{- $registry := .image.registry -}}
{{- if .global.imageRegistry -}}
{{- $registry = .global.imageRegistry -}}
{{- end -}}
{{- $ref := .image.repository -}}
{{- if $registry -}}
{{- $ref = printf "%s/%s" (trimSuffix "/" $registry) .image.repository -}}
{{- end -}}
{{- if .image.digest -}}
{{- printf "%s@%s" $ref .image.digest -}}
{{- else -}}
{{- printf "%s:%s" $ref (toString (default .defaultTag .image.tag)) -}}
{{- end -}}
{{- end -}}

{{- define "tenantry.image" -}}
{{- include "tenantry.imageRef" (dict "image" .Values.image "global" .Values.global "defaultTag" .Chart.AppVersion) -}}
{{- end -}}

{{/* The Secret holding TENANTRY_MASTER_KEY and the other keys: the user's, or the chart's. */}}
{{- define "tenantry.secretName" -}}
{{- default (include "tenantry.fullname" .) .Values.existingSecret -}}
{{- end -}}

{{/* The key names in that Secret: the user's names, or the chart's own (the variable names). */}}
{{- define "tenantry.secretKey" -}}
{{- $root := index . 0 -}}
{{- $key := index . 1 -}}
{{- if $root.Values.existingSecret -}}
{{- index $root.Values.existingSecretKeys $key -}}
{{- else -}}
{{- index (dict "databaseUrl" "DATABASE_URL" "masterKey" "TENANTRY_MASTER_KEY" "bootstrapToken" "TENANTRY_BOOTSTRAP_TOKEN" "stripeSecretKey" "STRIPE_SECRET_KEY" "stripeWebhookSecret" "STRIPE_WEBHOOK_SECRET") $key -}}
{{- end -}}
{{- end -}}

{{/* Where DATABASE_URL comes from with an external database: {name, key}. */}}
{{- define "tenantry.externalDatabaseSecret" -}}
{{- if .Values.externalDatabase.existingSecret -}}
name: {{ .Values.externalDatabase.existingSecret }}
key: {{ default .Values.existingSecretKeys.databaseUrl .Values.externalDatabase.existingSecretKey }}
{{- else if .Values.existingSecret -}}
name: {{ .Values.existingSecret }}
key: {{ default .Values.existingSecretKeys.databaseUrl .Values.externalDatabase.existingSecretKey }}
{{- else -}}
name: {{ include "tenantry.fullname" . }}
key: DATABASE_URL
{{- end -}}
{{- end -}}

{{- define "tenantry.postgresql.secretName" -}}
{{- default (include "tenantry.postgresql.fullname" .) .Values.postgresql.auth.existingSecret -}}
{{- end -}}

{{- define "tenantry.postgresql.secretKey" -}}
{{- if .Values.postgresql.auth.existingSecret -}}
{{- .Values.postgresql.auth.existingSecretKey -}}
{{- else -}}
POSTGRES_PASSWORD
{{- end -}}
{{- end -}}

{{/*
DATABASE_URL as container environment. With the bundled PostgreSQL it is built from the password
by Kubernetes' $(VAR) expansion, so the password is read from its Secret and never written into
the pod spec. `migrateSecret` names a Secret to read an external URL from instead of the usual one
(the migration hook's own copy, see migrate-secret.yaml).
*/}}
{{- define "tenantry.databaseEnv" -}}
{{- $root := .root -}}
{{- if $root.Values.postgresql.enabled -}}
- name: POSTGRES_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "tenantry.postgresql.secretName" $root }}
      key: {{ include "tenantry.postgresql.secretKey" $root }}
- name: DATABASE_URL
  value: {{ printf "postgres://%s:$(POSTGRES_PASSWORD)@%s:5432/%s" $root.Values.postgresql.auth.username (include "tenantry.postgresql.fullname" $root) $root.Values.postgresql.auth.database | quote }}
{{- else -}}
{{- $ref := include "tenantry.externalDatabaseSecret" $root | fromYaml -}}
{{- if .migrateSecret -}}
{{- $ref = dict "name" .migrateSecret "key" "DATABASE_URL" -}}
{{- end -}}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ $ref.name }}
      key: {{ $ref.key }}
{{- end }}
{{- end -}}

{{/* Whether the chart makes the control plane's Secret (no existingSecret). */}}
{{- define "tenantry.createSecret" -}}
{{- if not .Values.existingSecret -}}true{{- end -}}
{{- end -}}

{{/*
Whether the migration hook reads DATABASE_URL from a hook Secret of its own: when the URL is in
values (not in a Secret that exists before the release), since a pre-install hook runs before the
release's own Secret is created.
*/}}
{{- define "tenantry.migrateSecretNeeded" -}}
{{- if and .Values.migrations.enabled (not .Values.postgresql.enabled) (not .Values.externalDatabase.existingSecret) (not .Values.existingSecret) -}}true{{- end -}}
{{- end -}}

{{- define "tenantry.publicUrl" -}}
{{- if .Values.publicUrl -}}
{{- .Values.publicUrl -}}
{{- else if and .Values.ingress.enabled .Values.ingress.hosts -}}
{{- $host := (first .Values.ingress.hosts).host -}}
{{- printf "%s://%s" (ternary "https" "http" (gt (len .Values.ingress.tls) 0)) $host -}}
{{- else -}}
{{- fail "publicUrl is required: the URL apps and users reach the control plane at (TENANTRY_PUBLIC_URL), e.g. https://tenantry.example.com (or enable the Ingress, whose first host is used)" -}}
{{- end -}}
{{- end -}}

{{/* The checks that values.schema.json cannot express; each names the value to set. */}}
{{- define "tenantry.validate" -}}
{{- if and (not .Values.existingSecret) (not .Values.secrets.masterKey) -}}
{{- fail "secrets.masterKey is required (openssl rand -base64 32), or name a Secret holding TENANTRY_MASTER_KEY in existingSecret: every replica must seal secrets with the same key" -}}
{{- end -}}
{{- if and .Values.postgresql.enabled (or .Values.externalDatabase.url .Values.externalDatabase.existingSecret) -}}
{{- fail "postgresql.enabled is true and externalDatabase is set: choose the bundled PostgreSQL or an external one" -}}
{{- end -}}
{{- if and (not .Values.postgresql.enabled) (not .Values.externalDatabase.url) (not .Values.externalDatabase.existingSecret) (not .Values.existingSecret) -}}
{{- fail "no database: set externalDatabase.existingSecret (a Secret holding DATABASE_URL), externalDatabase.url, existingSecret (with a DATABASE_URL key), or postgresql.enabled=true to evaluate with a bundled PostgreSQL" -}}
{{- end -}}
{{- if and .Values.existingSecret .Values.externalDatabase.url -}}
{{- fail "externalDatabase.url is set with existingSecret: put DATABASE_URL in that Secret (or name its Secret in externalDatabase.existingSecret) instead" -}}
{{- end -}}
{{- if and .Values.postgresql.enabled (not .Values.postgresql.auth.existingSecret) (not .Values.postgresql.auth.password) -}}
{{- fail "postgresql.auth.password is required with the bundled PostgreSQL (openssl rand -hex 24), or name a Secret in postgresql.auth.existingSecret" -}}
{{- end -}}
{{- if and .Values.podDisruptionBudget.enabled (eq (toString .Values.podDisruptionBudget.minAvailable) "") (eq (toString .Values.podDisruptionBudget.maxUnavailable) "") -}}
{{- fail "podDisruptionBudget needs minAvailable or maxUnavailable (or enabled=false)" -}}
{{- end -}}
{{- if and .Values.stripe.enabled (not .Values.existingSecret) (not (and .Values.secrets.stripeSecretKey .Values.secrets.stripeWebhookSecret)) -}}
{{- fail "stripe.enabled needs secrets.stripeSecretKey and secrets.stripeWebhookSecret (or existingSecret holding both)" -}}
{{- end -}}
{{- end -}}
