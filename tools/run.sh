#!/usr/bin/env bash
# Installs what is missing, builds Ringgate (Release) and runs it in the foreground with the
# embedded broker: ws://127.0.0.1:8080/ws (pub/sub; clients may publish), /echo, the demo page at
# http://127.0.0.1:8080/, the publish API on http://127.0.0.1:9200/publish (token "dev-token") and
# metrics on http://127.0.0.1:9100/metrics. Extra arguments go to ringgate and replace these
# defaults when they name the same flag. Ctrl-C drains and exits.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${RINGGATE_BUILD_DIR:-${repo_root}/build/release}"
"${repo_root}/tools/bootstrap.sh"
cmake -G Ninja -S "${repo_root}" -B "${build}" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "${build}" --target ringgate -- -j"$(nproc)"
args=("$@")
[[ " ${args[*]} " == *" --listen "* ]] || args+=(--listen 127.0.0.1:8080)
[[ " ${args[*]} " == *" --admin "* ]] || args+=(--admin 127.0.0.1:9100)
[[ " ${args[*]} " == *" --client-publish "* ]] || args+=(--client-publish on)
[[ " ${args[*]} " == *" --api "* ]] || args+=(--api 127.0.0.1:9200 --api-token dev-token)
exec "${build}/src/app/ringgate" "${args[@]}"
