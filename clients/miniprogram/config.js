// The one file a developer edits: where the Fenhong server is.
// serverUrl must be listed under 「request合法域名」 and wsUrl under 「socket合法域名」
// in the mini-program's 开发管理 → 服务器域名 settings (HTTPS / WSS only on devices).
module.exports = {
  serverUrl: 'https://fenhong.example.com',
  wsUrl: 'wss://fenhong.example.com/graphql/ws',
};
