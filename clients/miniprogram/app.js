const live = require('./lib/live');

App({
  onLaunch() {
    // Back from the background or onto another network: restart the live socket and let
    // the live pages re-read their state.
    live.watchAppLifecycle();
  },
});
