/* geosteer's default locations, one definition each (every program and the
 * config defaults use these): geosteerd's socket, the runtime directory
 * where geosteerd publishes the check plan and the probe writes the health
 * state (geosteerd's default: the socket's directory), and the zone store.
 * Options and geosteer.json settings override them. */
#ifndef GS_COMMON_PATHS_H
#define GS_COMMON_PATHS_H

#define GS_DEFAULT_RUNTIME_DIR "/run/geosteer"
#define GS_DEFAULT_SOCKET GS_DEFAULT_RUNTIME_DIR "/backend.sock"
#define GS_DEFAULT_ZONE_DB "/var/lib/geosteer/zones.db"

#endif
