// The shopper's page (what a store's code opens in a browser): her balances, every queue
// entry with how many are ahead, her history and withdrawals, all kept live on one
// connection that comes back by itself.
import {
  $, $$, esc, gql, describe, busy, toast, confirmDialog, empty, session, saveSession, yuan, percent, integer,
  parseAmount, time, duration, ledgerLine, QUEUE_STATUS, WITHDRAWAL_STATUS, setZone,
} from "./lib.js";

const MAX_WATCHED = 15;

export async function shopperPage(view, ctx) {
  setZone("Asia/Shanghai");
  const scene = new URLSearchParams(location.search).get("scene");
  if (session.kind !== "shopper") return login(view, ctx);

  let merchantId = session.shopperMerchantId;
  if (scene && !(session.joined || {})[scene]) {
    const j = (await gql(`mutation($s: String!) { joinByScene(scene: $s) { justJoined merchant { id name } } }`, { s: scene })).joinByScene;
    merchantId = j.merchant.id;
    session.shopperMerchantId = merchantId;
    session.joined = { ...(session.joined || {}), [scene]: true };
    saveSession();
    if (j.justJoined) toast(`欢迎加入 ${j.merchant.name}`);
  }
  if (!merchantId) {
    const mine = (await gql(`query { me { memberships { merchant { id } } } }`)).me.memberships;
    if (mine.length) { merchantId = mine[0].merchant.id; session.shopperMerchantId = merchantId; saveSession(); }
  }
  if (!merchantId) {
    view.innerHTML = `<section class="card"><h2>还不是会员</h2>${empty("请用微信扫描门店的二维码加入")}</section>`;
    return;
  }
  return memberView(view, ctx, merchantId);
}

function login(view, ctx) {
  view.innerHTML = `<section class="card" style="max-width:420px;margin:2rem auto"><h2>会员登录</h2>
    <form id="shopper-login"><label class="field"><span>登录码</span><input name="code" required autocomplete="off"></label>
    <p class="help">在小程序里会自动登录；开发环境下任意登录码都可以登录（对应 dev-登录码）。</p>
    <p class="error" id="login-error"></p><div class="actions"><button>登录</button></div></form></section>`;
  $("#shopper-login").addEventListener("submit", (event) => {
    event.preventDefault();
    const code = new FormData(event.target).get("code").trim();
    busy($("button", event.target), async () => {
      try {
        const d = (await gql(`mutation($c: String!) { loginWithWechat(code: $c) { token user { id nickname } } }`, { c: code })).loginWithWechat;
        for (const k of Object.keys(session)) if (k !== "tillStore") delete session[k];
        Object.assign(session, { token: d.token, kind: "shopper", userId: d.user.id, nickname: d.user.nickname || "" });
        saveSession();
        ctx.rerender();
      } catch (err) { $("#login-error").textContent = describe(err); }
    });
  });
}

async function memberView(view, ctx, merchantId) {
  view.innerHTML = `
    <section class="card" id="member-card"><header><h2 id="merchant-name"></h2><span class="muted">会员码 <b id="member-code"></b></span></header>
      <div class="balance" id="balances"></div>
      <div id="nickname-box"></div></section>
    <section class="card" id="queue-card"><h2>我的排队</h2><div id="entries"></div></section>
    <section class="card" id="withdraw-card"><h2>提现</h2>
      <form id="withdraw-form" class="actions" novalidate><input name="amount" id="withdraw-amount" inputmode="decimal" placeholder="提现金额（元）" style="flex:1;min-width:8rem"><button id="withdraw-button">申请提现</button></form>
      <p class="help" id="withdraw-rules"></p><p class="error" id="withdraw-error"></p><div id="withdrawal-list"></div></section>
    <section class="card" id="history-card"><h2>明细</h2><div id="history"></div>
      <div class="pager"><button class="secondary" id="more-history" hidden>加载更多</button></div></section>
    <section class="card qr" id="referral-card"><h2>我的推荐码</h2><p class="muted">好友扫码加入后，TA 每次消费您都能获得推荐奖励。</p><div id="referral-code"></div></section>`;

  const watched = new Map(); // entry id → stop()
  let historyCursor = null;
  let walletLive = false;
  let rules = null;
  let member = null;

  async function load() {
    const d = await gql(`query($m: ID!) { me { nickname } membership(merchantId: $m) { memberCode merchant { name programs { withdrawal { minWithdrawal maxWithdrawal feeRatio } } }
      referralCode { svg } wallet { cash cashOnHold points pointsOnHold valueAddedPoints }
      queueEntries { id status position received target etaSeconds createdAt completedAt order { amount } }
      withdrawals { id amount fee net status createdAt note failReason } } }`, { m: merchantId });
    if (!ctx.current()) return;
    if (!d.membership) { view.innerHTML = `<section class="card">${empty("还不是这家店的会员，请扫码加入")}</section>`; return; }
    member = d.membership;
    rules = member.merchant.programs && member.merchant.programs.withdrawal;
    $("#merchant-name").textContent = member.merchant.name;
    $("#member-code").textContent = member.memberCode;
    // Once the wallet subscription has spoken it is the fresher source (a re-read racing
    // with a change can answer from before it).
    if (!walletLive) showWallet(member.wallet);
    showNickname(d.me.nickname);
    showEntries(member.queueEntries);
    showWithdrawals(member.withdrawals);
    $("#referral-code").innerHTML = member.referralCode.svg.replace(/^<\?xml[^>]*>/, "");
    $("#withdraw-rules").textContent = rules
      ? `单笔 ${yuan(rules.minWithdrawal)} – ${yuan(rules.maxWithdrawal)}${Number(rules.feeRatio) > 0 ? `，手续费 ${percent(rules.feeRatio)}` : "，免手续费"}；商家审核后到账。`
      : "";
  }

  function showWallet(w) {
    $("#balances").innerHTML = `<div class="tile"><b id="cash">${yuan(w.cash)}</b><span>可提现余额</span></div>
      <div class="tile"><b id="cash-on-hold">${yuan(w.cashOnHold)}</b><span>提现中</span></div>
      <div class="tile"><b id="points">${integer(w.points)}</b><span>积分${w.pointsOnHold ? `（冻结 ${integer(w.pointsOnHold)}）` : ""}</span></div>
      ${Number(w.valueAddedPoints) > 0 ? `<div class="tile"><b>${esc(w.valueAddedPoints)}</b><span>增值积分</span></div>` : ""}`;
  }

  function showNickname(nickname) {
    const box = $("#nickname-box");
    if (nickname) { box.innerHTML = `<p class="muted">昵称：${esc(nickname)}</p>`; return; }
    box.innerHTML = `<form id="nickname-form" class="actions"><input name="nickname" maxlength="32" placeholder="设置昵称，方便店员称呼您" style="flex:1;min-width:8rem"><button class="secondary">保存昵称</button></form>`;
    $("#nickname-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const nickname = new FormData(event.target).get("nickname").trim();
      if (!nickname) return;
      busy($("button", event.target), async () => {
        try { await gql(`mutation($n: String!) { setNickname(nickname: $n) { nickname } }`, { n: nickname }); session.nickname = nickname; saveSession(); showNickname(nickname); }
        catch (err) { toast(describe(err), "bad"); }
      });
    });
  }

  /** Live entries first, best rank first; then completed ones, newest first. */
  function ordered(entries) {
    const live = entries.filter((e) => e.status !== "COMPLETED").sort((a, b) => (a.position ?? 1e9) - (b.position ?? 1e9));
    const done = entries.filter((e) => e.status === "COMPLETED").sort((a, b) => String(b.completedAt).localeCompare(String(a.completedAt)));
    return [...live, ...done];
  }

  const entryState = new Map();

  function entryHtml(e) {
    const pct = Number(e.target) > 0 ? Math.min(100, Math.floor((Number(e.received) / Number(e.target)) * 1000) / 10) : 0;
    const ahead = e.position != null ? e.position - 1 : null;
    const head = e.status === "COMPLETED"
      ? `<span class="ahead">✓ 已免单</span>`
      : e.status === "ACTIVE" ? `<span class="ahead">返还中</span> <span class="muted">第 ${e.position} 位</span>`
        : `<span class="ahead" data-ahead>前面还有 ${ahead} 人</span> <span class="muted">第 ${e.position} 位</span>`;
    return `<div class="entry ${esc(e.status)}" data-entry="${esc(e.id)}" data-position="${esc(e.position ?? "")}">
      <div>${head}</div>
      <div class="progress" role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow="${pct}"><div style="width:${pct}%"></div></div>
      <div class="muted">已返 ${yuan(e.received)} / ${yuan(e.target)}（${pct}%）· 订单 ${yuan(e.order ? e.order.amount : e.target)} · ${esc(time(e.createdAt))}
      ${e.status === "COMPLETED" ? ` · ${esc(time(e.completedAt))} 完成` : ` · 预计 ${esc(duration(e.etaSeconds))}`}</div></div>`;
  }

  function renderEntries() {
    const entries = ordered([...entryState.values()]);
    $("#entries").innerHTML = entries.length ? entries.map(entryHtml).join("") : empty("还没有排队的订单：消费后订单自动加入排队");
  }

  function showEntries(entries) {
    // A watched entry's subscription is the fresher source (it sends the state again when it
    // reconnects); a re-read racing with a change could answer from before it.
    for (const e of entries) {
      if (watched.has(e.id) && entryState.has(e.id)) continue;
      entryState.set(e.id, { ...entryState.get(e.id), ...e });
    }
    renderEntries();
    // One subscription per live entry (on the one connection), for the first few in line.
    const live = ordered(entries).filter((e) => e.status !== "COMPLETED").slice(0, MAX_WATCHED);
    for (const e of live) {
      if (watched.has(e.id)) continue;
      const stop = ctx.subscribe(`subscription($id: ID!) { queuePosition(entryId: $id) { id status position received target etaSeconds completedAt } }`, { id: e.id }, (data) => {
        const x = data.queuePosition;
        entryState.set(x.id, { ...entryState.get(x.id), ...x });
        renderEntries();
        if (x.status === "COMPLETED") watched.delete(x.id);
      });
      watched.set(e.id, stop);
    }
  }

  function showWithdrawals(list) {
    $("#withdrawal-list").innerHTML = list.length ? `<table class="rows"><tbody>${list.map((w) => `<tr>
      <td data-label="时间">${esc(time(w.createdAt))}</td><td data-label="金额" class="amount">${yuan(w.amount)}${Number(w.fee) > 0 ? `（到手 ${yuan(w.net)}）` : ""}</td>
      <td data-label="状态"><span class="badge ${esc(w.status)}">${esc(WITHDRAWAL_STATUS[w.status] || w.status)}</span>${w.note ? `<br><span class="muted">${esc(w.note)}</span>` : ""}${w.failReason ? `<br><span class="muted">${esc(w.failReason)}</span>` : ""}</td>
      <td>${w.status === "PENDING" ? `<button class="link" data-cancel="${esc(w.id)}">撤回</button>` : ""}</td></tr>`).join("")}</tbody></table>` : "";
    $$("[data-cancel]").forEach((b) => b.onclick = async () => {
      if (await confirmDialog({ title: "撤回这笔提现？", body: "金额会回到您的余额。", confirm: "撤回" }) === null) return;
      busy(b, async () => {
        try { await gql(`mutation($w: ID!) { cancelWithdrawal(withdrawalId: $w) { id } }`, { w: b.dataset.cancel }); toast("已撤回"); refresh(); }
        catch (err) { $("#withdraw-error").textContent = describe(err); }
      });
    });
  }

  // History loads run one after another (a refresh while "more" is loading would interleave).
  let historyQueue = Promise.resolve();
  const loadHistory = (reset) => (historyQueue = historyQueue.then(() => readHistory(reset), () => readHistory(reset)));

  /** `reset`: read again from the newest, as many lines as are shown now; else the next page. */
  async function readHistory(reset) {
    const shownLines = $$("#history li").length;
    const first = reset ? Math.min(100, Math.max(20, shownLines)) : 20;
    if (reset) historyCursor = null;
    const d = (await gql(`query($m: ID!, $first: Int, $after: String) { membership(merchantId: $m) { wallet { transactions(first: $first, after: $after) {
      pageInfo { hasNextPage endCursor } nodes { id at kind amount unit memo } } } } }`, { m: merchantId, first, after: historyCursor })).membership.wallet.transactions;
    if (!ctx.current()) return;
    historyCursor = d.pageInfo.endCursor;
    const rows = d.nodes.map((t) => {
      const l = ledgerLine(t);
      return `<li data-kind="${esc(t.kind)}"><span><span class="kind">${esc(l.title)}</span><small>${esc(time(t.at))}</small></span><b class="amount ${l.negative ? "neg" : "pos"}">${esc(l.amount)}</b></li>`;
    }).join("");
    if (reset || !$("#history ul")) $("#history").innerHTML = rows ? `<ul class="lines">${rows}</ul>` : empty("还没有变动");
    else $("#history ul").insertAdjacentHTML("beforeend", rows);
    $("#more-history").hidden = !d.pageInfo.hasNextPage;
  }

  async function refresh() {
    try { await load(); await loadHistory(true); } catch (err) { toast(describe(err), "bad"); }
  }

  $("#more-history").onclick = (e) => busy(e.target, () => loadHistory(false).catch((err) => toast(describe(err), "bad")));
  $("#withdraw-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const error = $("#withdraw-error");
    error.textContent = "";
    const amount = parseAmount($("#withdraw-amount").value);
    if (!amount) { error.textContent = "请输入正确的金额，例如 20 或 20.50"; return; }
    busy($("#withdraw-button"), async () => {
      try {
        await gql(`mutation($m: ID!, $a: Decimal!) { requestWithdrawal(merchantId: $m, amount: $a) { id } }`, { m: merchantId, a: amount });
        $("#withdraw-amount").value = "";
        toast(`已申请提现 ${yuan(amount)}，等待商家审核`);
        refresh();
      } catch (err) { error.textContent = describe(err); }
    }, "提交中…");
  });

  await load();
  await loadHistory(true);

  // Her wallet changes whenever one of her orders completes or she is paid: re-read then,
  // which also brings in a new queue entry of hers.
  let initial = true;
  ctx.subscribe(`subscription($m: ID!) { walletUpdated(merchantId: $m) { cash cashOnHold points pointsOnHold valueAddedPoints } }`, { m: merchantId }, (data) => {
    walletLive = true;
    showWallet(data.walletUpdated);
    // The first answer is the state just read; every later one is a change.
    if (initial) { initial = false; return; }
    reread();
  });
  // Back after the connection was down: what was missed is read again.
  ctx.onReconnect(() => reread());
  let rereading = null;
  function reread() {
    clearTimeout(rereading);
    rereading = setTimeout(refresh, 200);
  }
}
