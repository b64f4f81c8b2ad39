#!/bin/sh
# Renders alertmanager.yml.tmpl from environment variables, then runs Alertmanager.
#
# Alertmanager does not expand environment variables in its configuration, so this script
# does it at container start. POSIX sh + awk only: the official prom/alertmanager image is
# busybox based (no envsubst, no bash). awk reads values from ENVIRON and splices them in
# literally, so a value containing / & \ | or quotes needs no shell or sed escaping.
#
#   entrypoint.sh [alertmanager flags...]   render to $ALERTMANAGER_RUNTIME_DIR/alertmanager.yml
#                                           and exec Alertmanager with --config.file set to it
#   entrypoint.sh --render-only             render to stdout and exit (tests, debugging)
#
# Template rules (see alertmanager.yml.tmpl): ${NAME} takes the value of NAME; lines between
# "# @if NAME" and "# @end" stay active only when NAME is non-empty, else they are commented
# out. An active line left with an unset placeholder is an error (nothing half-configured
# starts). Variables are documented in README.md.
set -eu

here=$(cd "$(dirname "$0")" && pwd)

# Defaults. Paths are as seen inside the container (compose mounts this folder there).
: "${ALERTMANAGER_TEMPLATE:=$here/alertmanager.yml.tmpl}"
: "${ALERTMANAGER_CONFIG_DIR:=/etc/alertmanager}"
: "${ALERTMANAGER_RUNTIME_DIR:=/alertmanager}"
: "${ALERTMANAGER_BIN:=/bin/alertmanager}"
: "${ORATOR_WEBHOOK_URL:=http://api:8000/admin/alerts}"
: "${ORATOR_WEBHOOK_TOKEN_FILE:=$ALERTMANAGER_CONFIG_DIR/secrets/webhook-token}"
: "${SMTP_REQUIRE_TLS:=true}"
export ALERTMANAGER_CONFIG_DIR ORATOR_WEBHOOK_URL ORATOR_WEBHOOK_TOKEN_FILE SMTP_REQUIRE_TLS

log() { printf 'entrypoint: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

render_only=false
if [ "${1-}" = "--render-only" ]; then
  render_only=true
  shift
fi

case "$SMTP_REQUIRE_TLS" in
  true | false) ;;
  *) die "SMTP_REQUIRE_TLS must be true or false, not '$SMTP_REQUIRE_TLS'" ;;
esac

# The webhook bearer token normally comes from a mounted file. For setups that only have an
# environment variable (docker compose), ORATOR_WEBHOOK_TOKEN is written to a private file
# and used instead, so the token still never appears in the rendered configuration.
if [ -n "${ORATOR_WEBHOOK_TOKEN-}" ]; then
  token_file=$ALERTMANAGER_RUNTIME_DIR/webhook-token
  (umask 077 && printf '%s' "$ORATOR_WEBHOOK_TOKEN" >"$token_file") \
    || die "cannot write $token_file (set ALERTMANAGER_RUNTIME_DIR to a writable directory)"
  ORATOR_WEBHOOK_TOKEN_FILE=$token_file
  export ORATOR_WEBHOOK_TOKEN_FILE
fi
unset ORATOR_WEBHOOK_TOKEN

[ -r "$ALERTMANAGER_TEMPLATE" ] || die "template $ALERTMANAGER_TEMPLATE is not readable"

render() {
  awk '
    function fail(msg) { printf "entrypoint: error: %s:%d: %s\n", FILENAME, FNR, msg > "/dev/stderr"; failed = 1 }
    # A value as the inside of a YAML single-quoted scalar: a quote is written twice.
    function yaml_quote(v,   out, i) {
      out = ""
      while ((i = index(v, "\047")) > 0) { out = out substr(v, 1, i) "\047"; v = substr(v, i + 1) }
      return out v
    }
    /^[ \t]*# @if [A-Za-z_][A-Za-z0-9_]*$/ {
      if (open) fail("@if inside another @if block (blocks do not nest)")
      open = 1; name = $3; active = (ENVIRON[name] != "")
      match($0, /^[ \t]*/); indent = RLENGTH   # disabled lines are commented at this column
      print (active ? $0 : $0 "  (disabled: " name " is not set)")
      next
    }
    /^[ \t]*# @end$/ {
      if (!open) fail("@end without @if")
      open = 0; print; next
    }
    /^[ \t]*# @/ { fail("malformed marker: " $0) }
    open && !active { print substr($0, 1, indent) "# " substr($0, indent + 1); next }
    /^[ \t]*#/ { print; next }   # comments keep their placeholders as documentation
    {
      line = $0; out = ""
      while (match(line, /\$[{][A-Za-z_][A-Za-z0-9_]*[}]/)) {
        name = substr(line, RSTART + 2, RLENGTH - 3); value = ENVIRON[name]
        if (value == "") { fail("${" name "} is not set"); value = "${" name "}" }
        else if (index(value, "\n")) { fail(name " contains a newline"); value = "" }
        out = out substr(line, 1, RSTART - 1) yaml_quote(value)
        line = substr(line, RSTART + RLENGTH)
      }
      print out line
    }
    END {
      if (open) fail("@if block not closed by @end")
      exit failed
    }
  ' "$ALERTMANAGER_TEMPLATE"
}

if $render_only; then
  render || exit 1
  exit 0
fi

config=$ALERTMANAGER_RUNTIME_DIR/alertmanager.yml
# The rendered file may hold secrets (Slack URL, PagerDuty key, SMTP password): owner-only.
(umask 077 && render >"$config.tmp") || { rm -f "$config.tmp"; die "could not render $ALERTMANAGER_TEMPLATE (see above)"; }
mv "$config.tmp" "$config"

[ -r "$ORATOR_WEBHOOK_TOKEN_FILE" ] \
  || log "warning: $ORATOR_WEBHOOK_TOKEN_FILE is not readable: webhook deliveries to $ORATOR_WEBHOOK_URL will fail"
[ -z "${PAGERDUTY_ROUTING_KEY-}" ] || log "PagerDuty enabled (receiver page)"
[ -z "${SLACK_WEBHOOK_URL-}" ] || log "Slack enabled (receivers page, ticket, default)"
[ -z "${SMTP_SMARTHOST-}" ] || log "email enabled (receivers ticket, default)"
# Alertmanager itself needs none of the secrets.
unset SLACK_WEBHOOK_URL PAGERDUTY_ROUTING_KEY SMTP_AUTH_PASSWORD

# Started without flags (compose's `entrypoint:` clears the image's CMD): use the image's.
[ $# -gt 0 ] || set -- --storage.path=/alertmanager
log "rendered $config; starting $ALERTMANAGER_BIN"
exec "$ALERTMANAGER_BIN" --config.file="$config" "$@"
