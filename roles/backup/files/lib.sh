# Helpers of hive-backup's run-target (sourced; runs under set -euo pipefail).

# docker CLI against one hive's TLS API, with this host's docker client certificate.
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

# hive_entry_file NAME EXT FILE_NAME: whether FILE_NAME (no folder) is a backup file of entry
# NAME with extension EXT: exactly NAME-<14 digits>.EXT (a backup), NAME-prerestore-<14 digits>.EXT
# (the data a restore replaced) or NAME-latest.EXT. Sets HIVE_FILE_KIND to backup, prerestore or
# latest. A glob such as NAME-[0-9]*.EXT would also take the files of an entry NAME-2.
hive_entry_file() {
  local name=$1 ext=$2 base=$3 rest
  HIVE_FILE_KIND=
  case "$base" in
    "$name"-*."$ext") ;;
    *) return 1 ;;
  esac
  rest=${base#"$name"-}
  rest=${rest%."$ext"}
  if [ "$rest" = latest ]; then
    HIVE_FILE_KIND=latest
  elif [[ $rest =~ ^prerestore-[0-9]{14}$ ]]; then
    HIVE_FILE_KIND=prerestore
  elif [[ $rest =~ ^[0-9]{14}$ ]]; then
    HIVE_FILE_KIND=backup
  else
    return 1
  fi
}

# hive_new_file NAME INFIX EXT: prints a backup file name of this second that does not exist yet
# ($dir/NAME-INFIXstamp.EXT): a second restore within the same second must not overwrite the
# prerestore file the first one left (it may be the very file being restored from).
hive_new_file() {
  local file
  while :; do
    file="$dir/$1-$2$(date +%Y%m%d%H%M%S).$3"
    [ -e "$file" ] || [ -L "$file" ] || break
    sleep 1
  done
  printf '%s\n' "$file"
}

# hive_write_backup NAME KIND DIRECTORY BACKUP_COMMAND BACKUP_FILE FILE: writes the entry's
# backup to FILE (through FILE.partial, removed when this fails) in the current task.
hive_write_backup() {
  local name=$1 kind=$2 directory=$3 backup_command=$4 backup_file=$5 file=$6 tmp
  tmp="$file.partial"
  HIVE_PARTIAL=$tmp
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
}

# Removes the backups of entry NAME (EXT) older than DAYS days and older than KEEP. Only plain
# NAME-<stamp>.EXT files go: never prerestore files, the latest link or another entry's files.
hive_cleanup_entry() {
  local name=$1 ext=$2 days=$3 keep=$4 f limit mtime
  limit=$(( $(stat -c %Y "$keep") ))
  for f in "$dir"/*; do
    [ -f "$f" ] && [ ! -L "$f" ] && [ "$f" != "$keep" ] || continue
    hive_entry_file "$name" "$ext" "${f##*/}" && [ "$HIVE_FILE_KIND" = backup ] || continue
    mtime=$(stat -c %Y "$f")
    # as find -mtime +(DAYS-1) ! -newer KEEP: at least DAYS whole days old
    if [ $(( $(date +%s) - mtime )) -ge $(( days * 86400 )) ] && [ "$mtime" -le "$limit" ]; then
      rm -f "$f"
      echo "   removed old $f"
    fi
  done
}

# entry NAME KIND DIRECTORY BACKUP_COMMAND BACKUP_FILE RESTORE_COMMAND RESTORE_FILE EXT DAYS [CONTAINER]
#   KIND directory: tar.gz of DIRECTORY; command: BACKUP_COMMAND, then BACKUP_FILE (or its output).
#   CONTAINER: the service whose task runs the commands (default: the target's service).
hive_backup_entry() {
  local name=$1 kind=$2 directory=$3 backup_command=$4 backup_file=$5 ext=$8 days=$9
  local file
  hive_use_task "${10:-}"
  file=$(hive_new_file "$name" '' "$ext")
  echo "   $name: $kind backup to $file"
  hive_write_backup "$name" "$kind" "$directory" "$backup_command" "$backup_file" "$file"
  ln -sfn "${file##*/}" "$dir/$name-latest.$ext"
  # only after a good backup: a failing backup never eats the last good ones
  if [ "$days" -gt 0 ]; then
    hive_cleanup_entry "$name" "$ext" "$days" "$file"
  fi
}

# Sets HIVE_SOURCE to the file entry NAME is restored from in this run, empty when the entry is
# not restored (another entry's file was given, or a backup-only entry). Fails when it should be
# restored but cannot be.
hive_restore_source() {
  local name=$1 kind=$2 restore_command=$6 restore_file=$7 ext=$8
  local given=${HIVE_RESTORE_FILE:-}
  given=${given##*/}
  HIVE_SOURCE=
  if [ -n "$given" ] && ! hive_entry_file "$name" "$ext" "$given"; then
    return 0
  fi
  if [ "$kind" = command ] && [ -z "$restore_command" ] && [ -z "$restore_file" ]; then
    # a backup-only entry (a report, an export for elsewhere): nothing to put back
    if [ -n "$given" ]; then
      echo "$name has neither restore_command nor restore_file: it cannot be restored" >&2
      return 1
    fi
    return 0
  fi
  if [ -n "$given" ]; then
    HIVE_SOURCE=$HIVE_RESTORE_FILE
  else
    HIVE_SOURCE="$dir/$name-latest.$ext"
    if [ ! -e "$HIVE_SOURCE" ]; then
      echo "no backup of $name in $dir" >&2
      return 1
    fi
    HIVE_SOURCE=$(readlink -f "$HIVE_SOURCE")
  fi
}

# First pass of a restore: keeps the current data of every entry about to be restored in
# NAME-prerestore-<stamp>.EXT, before anything is restored. If that fails, the run stops.
hive_prerestore_entry() {
  local name=$1 kind=$2 directory=$3 backup_command=$4 backup_file=$5 ext=$8
  local file
  hive_restore_source "$@"
  [ -n "$HIVE_SOURCE" ] || return 0
  hive_use_task "${10:-}"
  if [ "$kind" = command ] && [ -z "$backup_command" ]; then
    echo "$name has no backup_command: its current data cannot be kept" >&2
    HIVE_ON_FAILURE="nothing was restored; hive-backup --restore --no-prerestore restores without keeping the current data"
    return 1
  fi
  file=$(hive_new_file "$name" prerestore- "$ext")
  echo "   $name: keeping the current data in $file"
  HIVE_ON_FAILURE="$name: the current data could not be kept (backup to $file failed): nothing was restored; hive-backup --restore --no-prerestore restores without keeping it"
  hive_write_backup "$name" "$kind" "$directory" "$backup_command" "$backup_file" "$file"
  HIVE_ON_FAILURE=
  HIVE_PRERESTORE_OF[$name]=$file
}

# The POSIX sh (busybox too) that restores a directory: extracts the archive on standard input
# into a folder inside DIRECTORY ($1; same file system, and a mount point cannot be renamed), and
# only when that worked moves the old content aside, the new one in, and deletes the old one.
# shellcheck disable=SC2016
HIVE_RESTORE_DIR_SH='
d=$1
new="$d/.hive-restore-new.$$"
old="$d/.hive-restore-old.$$"
mkdir "$new" || exit 1
if ! tar -xzf - -C "$new"; then
  rm -rf "$new"
  echo "extraction failed: $d is unchanged" >&2
  exit 1
fi
mkdir "$old" || { rm -rf "$new"; exit 1; }
moved=ok
for f in "$d"/* "$d"/.[!.]* "$d"/..?*; do
  [ -e "$f" ] || [ -L "$f" ] || continue
  [ "$f" = "$new" ] || [ "$f" = "$old" ] && continue
  mv "$f" "$old/" || { moved=; break; }
done
if [ -z "$moved" ]; then
  # put back what was moved aside: the directory stays as it was
  for f in "$old"/* "$old"/.[!.]* "$old"/..?*; do
    [ -e "$f" ] || [ -L "$f" ] || continue
    mv "$f" "$d/"
  done
  rmdir "$old"
  rm -rf "$new"
  echo "could not move the old content of $d aside: $d is unchanged" >&2
  exit 1
fi
for f in "$new"/* "$new"/.[!.]* "$new"/..?*; do
  [ -e "$f" ] || [ -L "$f" ] || continue
  mv "$f" "$d/" || { echo "could not move the restored files into $d; the old content is in $old" >&2; exit 1; }
done
rmdir "$new"
rm -rf "$old"
'

# Second pass: puts the backup back.
hive_restore_entry() {
  local name=$1 kind=$2 directory=$3 restore_command=$6 restore_file=$7
  local file
  hive_restore_source "$@"
  file=$HIVE_SOURCE
  if [ -z "$file" ]; then
    if [ "$kind" = command ] && [ -z "$restore_command" ] && [ -z "$restore_file" ]; then
      echo "   $name: backup only (no restore_command or restore_file), skipped"
    fi
    return 0
  fi
  hive_use_task "${10:-}"
  echo "   $name: $kind restore from $file"
  HIVE_ON_FAILURE="$name: the restore failed"
  if [ -n "${HIVE_PRERESTORE_OF[$name]:-}" ]; then
    HIVE_ON_FAILURE+="; the data it was to replace is kept in ${HIVE_PRERESTORE_OF[$name]} (--from ${HIVE_PRERESTORE_OF[$name]##*/})"
  fi
  case "$kind" in
    directory)
      hive_run_i sh -c "$HIVE_RESTORE_DIR_SH" restore "$directory" < "$file"
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
  HIVE_ON_FAILURE=
  HIVE_RESTORED=$((HIVE_RESTORED + 1))
}
