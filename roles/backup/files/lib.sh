# Helpers of hive-backup's run-target (sourced; runs under set -euo pipefail).

# docker CLI against one hive's TLS API, with this host's certificate of the site CA.
hive_docker() {
  local host=$1
  shift
  docker --tlsverify --tlscacert "$HIVE_DOCKER_CA" --tlscert "$HIVE_DOCKER_CERT" \
    --tlskey "$HIVE_DOCKER_KEY" -H "tcp://$host:$HIVE_DOCKER_PORT" "$@"
}

# Sets HIVE_TASK_NODE and HIVE_TASK_CONTAINER: the first running task of a swarm service,
# asked of the first manager that answers.
hive_find_task() {
  local service=$1 manager line
  for manager in $HIVE_MANAGERS; do
    if line=$(hive_docker "$manager" service ps "$service" --no-trunc \
        --filter desired-state=running --format '{{.Node}} {{.Name}}.{{.ID}} {{.CurrentState}}' 2>/dev/null); then
      line=$(printf '%s\n' "$line" | awk '$3 == "Running" { print $1, $2; exit }')
      if [ -z "$line" ]; then
        echo "service $service has no running task" >&2
        return 1
      fi
      HIVE_TASK_NODE=${line%% *}
      HIVE_TASK_CONTAINER=${line#* }
      return 0
    fi
  done
  echo "no swarm manager answered (tried $HIVE_MANAGERS) or no service $service" >&2
  return 1
}

# Points the helpers below at the running task of service $1 (default: the target's service),
# found once per service. An entry's `container` key names another service of the site (a
# database next to the application, say) whose task runs that entry's commands.
hive_use_task() {
  local wanted=${1:-$service}
  if [ -n "$wanted" ] && [ "$wanted" != "${HIVE_TASK_SERVICE:-}" ]; then
    hive_find_task "$wanted"
    if [ "$wanted" != "$service" ]; then
      echo "   $wanted runs as $HIVE_TASK_CONTAINER on $HIVE_TASK_NODE"
    fi
    HIVE_TASK_SERVICE=$wanted
  fi
}

# Runs a command in the target's place: the service's task, else this host.
hive_run() {
  if [ -n "${HIVE_TASK_SERVICE:-}" ]; then
    hive_docker "$HIVE_TASK_NODE" exec "$HIVE_TASK_CONTAINER" "$@"
  else
    "$@"
  fi
}

# Same with standard input passed through.
hive_run_i() {
  if [ -n "${HIVE_TASK_SERVICE:-}" ]; then
    hive_docker "$HIVE_TASK_NODE" exec -i "$HIVE_TASK_CONTAINER" "$@"
  else
    "$@"
  fi
}

# Prints the content of a file of the target's place on standard output.
hive_read_file() {
  if [ -n "${HIVE_TASK_SERVICE:-}" ]; then
    hive_docker "$HIVE_TASK_NODE" cp "$HIVE_TASK_CONTAINER:$1" - | tar -xOf -
  else
    cat "$1"
  fi
}

# Puts a local file at PATH in the target's place.
hive_write_file() {
  local src=$1 dest=$2 tmp
  if [ -n "${HIVE_TASK_SERVICE:-}" ]; then
    tmp=$(mktemp -d)
    cp "$src" "$tmp/${dest##*/}"
    tar -C "$tmp" -cf - "${dest##*/}" | hive_docker "$HIVE_TASK_NODE" cp - "$HIVE_TASK_CONTAINER:$(dirname "$dest")"
    rm -rf "$tmp"
  else
    install -m 0600 "$src" "$dest"
  fi
}

# entry NAME KIND DIRECTORY BACKUP_COMMAND BACKUP_FILE RESTORE_COMMAND RESTORE_FILE EXT DAYS [CONTAINER]
#   KIND directory: tar.gz of DIRECTORY; command: BACKUP_COMMAND, then BACKUP_FILE (or its output).
#   CONTAINER: the service whose task runs the commands (default: the target's service).
hive_backup_entry() {
  local name=$1 kind=$2 directory=$3 backup_command=$4 backup_file=$5 ext=$8 days=$9
  local stamp file tmp
  hive_use_task "${10:-}"
  stamp=$(date +%Y%m%d%H%M%S)
  file="$dir/$name-$stamp.$ext"
  tmp="$file.partial"
  HIVE_PARTIAL=$tmp
  echo "   $name: $kind backup to $file"
  case "$kind" in
    directory)
      hive_run tar -czf - -C "$directory" . > "$tmp"
      ;;
    command)
      if [ -n "$backup_file" ]; then
        hive_run sh -c "$backup_command"
        hive_read_file "$backup_file" > "$tmp"
      else
        hive_run sh -c "$backup_command" > "$tmp"
      fi
      ;;
    *) echo "unknown backup kind $kind" >&2; return 2 ;;
  esac
  chmod 0600 "$tmp"
  mv "$tmp" "$file"
  HIVE_PARTIAL=
  ln -sfn "${file##*/}" "$dir/$name-latest.$ext"
  # only after a good backup: a failing backup never eats the last good ones
  if [ "$days" -gt 0 ]; then
    find "$dir" -maxdepth 1 -type f -name "$name-[0-9]*.$ext" -mtime +"$((days - 1))" \
      ! -newer "$file" ! -samefile "$file" -print -delete | sed 's/^/   removed old /'
  fi
}

hive_restore_entry() {
  local name=$1 kind=$2 directory=$3 restore_command=$6 restore_file=$7 ext=$8
  local file given=${HIVE_RESTORE_FILE:-}
  given=${given##*/}
  if [ "$kind" = command ] && [ -z "$restore_command" ] && [ -z "$restore_file" ]; then
    # a backup-only entry (a report, an export for elsewhere): nothing to put back
    case "$given" in
      "$name"-[0-9]*."$ext"|"$name"-latest."$ext")
        echo "$name has neither restore_command nor restore_file: it cannot be restored" >&2
        return 1 ;;
    esac
    echo "   $name: backup only (no restore_command or restore_file), skipped"
    return 0
  fi
  if [ -n "$given" ]; then
    case "$given" in
      "$name"-[0-9]*."$ext"|"$name"-latest."$ext") file=$HIVE_RESTORE_FILE ;;
      *) return 0 ;;
    esac
  else
    file="$dir/$name-latest.$ext"
    if [ ! -e "$file" ]; then
      echo "no backup of $name in $dir" >&2
      return 1
    fi
  fi
  hive_use_task "${10:-}"
  echo "   $name: $kind restore from $(readlink -f "$file")"
  case "$kind" in
    directory)
      # shellcheck disable=SC2016
      hive_run_i sh -c 'set -e; cd "$1"; find . -mindepth 1 -delete; tar -xzf -' restore "$directory" < "$file"
      ;;
    command)
      if [ -n "$restore_file" ]; then
        hive_write_file "$file" "$restore_file"
        if [ -n "$restore_command" ]; then
          hive_run sh -c "$restore_command"
        fi
      else
        hive_run_i sh -c "$restore_command" < "$file"
      fi
      ;;
    *) echo "unknown backup kind $kind" >&2; return 2 ;;
  esac
  HIVE_RESTORED=$((HIVE_RESTORED + 1))
}
