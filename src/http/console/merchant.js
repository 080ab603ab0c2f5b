// The merchant's pages: dashboard, till, orders, members, queue, withdrawals, programs,
// stores, staff and settings. Each is `async (view, ctx)`; `ctx.subscribe` shares the page's
// one live connection and ends with the page.
import {
  $, $$, esc, gql, describe, busy, toast, confirmDialog, empty, download, newKey, session, saveSession,
  yuan, percent, ratioFromPercent, integer, parseAmount, parseCount, normalizeDigits, time, clock, today,
  addDays, startOfDay, setZone, person, ledgerLine, ORDER_STATUS, QUEUE_STATUS, WITHDRAWAL_STATUS, ROLE,
  REWARD_KIND, FEED_KIND,
} from "./lib.js";

const USER = "user { id nickname memberships { memberCode } }";
const td = (label, html, cls = "") => `<td data-label="${esc(label)}"${cls ? ` class="${cls}"` : ""}>${html}</td>`;
/** A key-value row (receipts and details show their labels on every screen). */
const kv = (label, html, cls = "") => `<tr><th scope="row">${esc(label)}</th><td${cls ? ` class="${cls}"` : ""}>${html}</td></tr>`;
const badge = (status, names) => `<span class="badge ${esc(status)}">${esc(names[status] || status)}</span>`;

async function storesOf(merchantId) {
  return (await gql(`query($m: ID!) { merchant(id: $m) { stores { id name } } }`, { m: merchantId })).merchant.stores;
}

const storeOptions = (stores, selected, all = null) =>
  (all ? `<option value="">${esc(all)}</option>` : "") +
  stores.map((s) => `<option value="${esc(s.id)}" ${s.id === selected ? "selected" : ""}>${esc(s.name)}</option>`).join("");

/** Calls `f` at most once per `ms`, after the last call. */
function debounce(f, ms) {
  let timer = null;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => f(...args), ms); };
}

// =======================================================================================
// Dashboard

let charts = [];
let echartsModule = null;
async function echarts() {
  echartsModule = echartsModule || await import("./vendor/echarts.js");
  return echartsModule;
}
window.addEventListener("resize", () => charts.forEach((c) => c.resize()));

/** Every day of the range, with the server's figures where it has them (zeros elsewhere). */
function everyDay(fromDay, toDay, daily) {
  const byDay = new Map(daily.map((d) => [d.day, d]));
  const out = [];
  for (let day = fromDay; day <= toDay; day = addDays(day, 1)) {
    out.push(byDay.get(day) || { day, gmv: "0", rewards: "0", orders: 0, newMembers: 0 });
  }
  return out;
}

async function dashboard(view, ctx) {
  const m = session.merchantId;
  const stores = await storesOf(m);
  const range = { kind: "today", from: today(), to: today(), store: "" };
  view.innerHTML = `
    <section class="card" id="dashboard">
      <header><h2>经营概况</h2>
        <div class="tabs" id="ranges" role="tablist">
          <button data-range="today" class="active">今天</button><button data-range="7">近 7 天</button>
          <button data-range="30">近 30 天</button><button data-range="custom">自定义</button></div></header>
      <div class="filters">
        <label class="field"><span>门店</span><select id="store-filter">${storeOptions(stores, "", "全部门店")}</select></label>
        <label class="field"><span>开始日期</span><input type="date" id="from-day"></label>
        <label class="field"><span>结束日期（含）</span><input type="date" id="to-day"></label>
      </div>
      <p class="muted" id="range-note"></p>
      <div class="tiles" id="tiles"></div>
      <p class="error" id="dashboard-error"></p>
    </section>
    <div class="columns">
      <section class="card"><h2>每日成交额与返利</h2><div class="chart" id="chart-money"></div></section>
      <section class="card"><h2>每日订单与新会员</h2><div class="chart" id="chart-count"></div></section>
    </div>
    <div class="columns">
      <section class="card"><h2>推荐排行</h2><div id="referrers"></div></section>
      <section class="card"><h2>实时动态</h2><ul class="feed" id="feed"><li class="muted" id="feed-empty">等待新的订单、会员和提现…</li></ul></section>
    </div>
    <section class="card" id="va-card" hidden><h2>增值积分价格走势</h2><div class="chart" id="chart-va"></div></section>
    <section class="card no-print"><h2>导出</h2><p class="muted">按上面选择的日期导出（CSV，可用 Excel 打开）。</p>
      <div class="actions"><button class="secondary" id="export-orders">导出订单</button><button class="secondary" id="export-ledger">导出资金流水</button></div>
      <p class="error" id="export-error"></p></section>`;

  const fromInput = $("#from-day"), toInput = $("#to-day");
  const showRange = () => {
    fromInput.value = range.from; toInput.value = range.to;
    $$("#ranges button").forEach((b) => b.classList.toggle("active", b.dataset.range === range.kind));
    $("#range-note").textContent = `${range.from} 至 ${range.to}（${session.timeZone || "Asia/Shanghai"} 时间）`;
  };
  const pick = (kind) => {
    range.kind = kind;
    const t = today();
    if (kind === "today") { range.from = t; range.to = t; }
    if (kind === "7") { range.from = addDays(t, -6); range.to = t; }
    if (kind === "30") { range.from = addDays(t, -29); range.to = t; }
    showRange();
    load();
  };
  $$("#ranges button").forEach((b) => b.onclick = () => pick(b.dataset.range));
  const custom = () => {
    if (!fromInput.value || !toInput.value) return;
    range.kind = "custom";
    range.from = fromInput.value <= toInput.value ? fromInput.value : toInput.value;
    range.to = fromInput.value <= toInput.value ? toInput.value : fromInput.value;
    showRange();
    load();
  };
  fromInput.onchange = custom; toInput.onchange = custom;
  $("#store-filter").onchange = (e) => { range.store = e.target.value; load(); };

  let loading = null;
  async function load() {
    const mine = loading = {};
    const from = startOfDay(range.from), to = startOfDay(addDays(range.to, 1));
    try {
      const d = await gql(`query($m: ID!, $from: DateTime!, $to: DateTime!, $s: ID) {
        dashboard(merchantId: $m, from: $from, to: $to, storeId: $s) { gmv orders newMembers referredMembers queueRewards referralRewards
          pointsIssued pointsRedeemed pointsExpired payoutRatio liabilities daily { day gmv rewards orders newMembers }
          topReferrers { referred rewards ${USER} } }
        merchant(id: $m) { queueStats { waiting active completed pool } valueAdded { price pool supply } }
        valueAddedHistory(merchantId: $m, from: $from, to: $to) { at price } }`, { m: session.merchantId, from, to, s: range.store || null });
      if (mine !== loading || !ctx.current()) return;
      $("#dashboard-error").textContent = "";
      render(d);
    } catch (err) {
      if (mine === loading && ctx.current()) $("#dashboard-error").textContent = describe(err);
    }
  }

  function render(d) {
    const x = d.dashboard, q = d.merchant.queueStats, va = d.merchant.valueAdded;
    const tile = (id, value, label) => `<div class="tile" data-tile="${id}"><b>${esc(value)}</b><span>${esc(label)}</span></div>`;
    const before = new Map($$("#tiles .tile").map((t) => [t.dataset.tile, $("b", t).textContent]));
    $("#tiles").innerHTML = [
      tile("gmv", yuan(x.gmv), "成交额"), tile("orders", integer(x.orders), "完成订单"),
      tile("newMembers", integer(x.newMembers), "新会员"), tile("referred", integer(x.referredMembers), "推荐加入"),
      tile("queueRewards", yuan(x.queueRewards), "排队免单返现"), tile("referralRewards", yuan(x.referralRewards), "推荐奖励"),
      tile("payoutRatio", percent(x.payoutRatio), "返利占成交额"), tile("liabilities", yuan(x.liabilities), "应付顾客余额（当前）"),
      tile("points", `${integer(x.pointsIssued)} / ${integer(x.pointsRedeemed)} / ${integer(x.pointsExpired)}`, "积分 发放 / 抵扣 / 过期"),
      q ? tile("queue", `${q.active} + ${q.waiting}`, "排队中（返还 + 等待）") : "",
      q ? tile("pool", yuan(q.pool), "排队奖池") : "",
      va ? tile("vaPrice", va.price, "增值积分价格（元）") : "",
    ].join("");
    for (const t of $$("#tiles .tile")) {
      const old = before.get(t.dataset.tile);
      if (old !== undefined && old !== $("b", t).textContent) t.classList.add("flash");
    }
    const days = everyDay(range.from, range.to, x.daily);
    drawCharts(days, d.valueAddedHistory, va);
    $("#referrers").innerHTML = x.topReferrers.length
      ? `<table class="rows"><thead><tr><th>会员</th><th>推荐人数</th><th>推荐奖励</th></tr></thead><tbody>${x.topReferrers.map((r) =>
        `<tr>${td("会员", esc(person(r.user)))}${td("推荐人数", integer(r.referred))}${td("推荐奖励", yuan(r.rewards), "amount")}</tr>`).join("")}</tbody></table>`
      : empty("这段时间还没有推荐");
  }

  async function drawCharts(days, vaHistory, va) {
    const lib = await echarts();
    if (!ctx.current()) return;
    const axis = { type: "category", data: days.map((d) => d.day.slice(5)), axisLabel: { hideOverlap: true } };
    const base = { animation: false, grid: { left: 48, right: 48, top: 36, bottom: 28 }, tooltip: { trigger: "axis" }, legend: { top: 0 } };
    const chart = (id) => {
      const el = document.getElementById(id);
      return lib.getInstanceByDom(el) || (charts.push(lib.init(el, null, { renderer: "svg" })), charts[charts.length - 1]);
    };
    chart("chart-money").setOption({
      ...base, xAxis: axis,
      yAxis: [{ type: "value", name: "元", axisLabel: { formatter: (v) => v.toLocaleString("zh-CN") } }],
      series: [
        { name: "成交额", type: "bar", data: days.map((d) => d.gmv), itemStyle: { color: "#c2410c" } },
        { name: "返利", type: "line", data: days.map((d) => d.rewards), itemStyle: { color: "#0f766e" } },
      ],
    }, true);
    chart("chart-count").setOption({
      ...base, xAxis: axis,
      yAxis: [{ type: "value", name: "笔 / 人", minInterval: 1 }],
      series: [
        { name: "订单", type: "bar", data: days.map((d) => d.orders), itemStyle: { color: "#ea580c" } },
        { name: "新会员", type: "line", data: days.map((d) => d.newMembers), itemStyle: { color: "#2563eb" } },
      ],
    }, true);
    $("#va-card").hidden = !va;
    if (va) {
      chart("chart-va").setOption({
        ...base, legend: { show: false },
        xAxis: { type: "time" }, yAxis: { type: "value", name: "元 / 积分", scale: true },
        series: [{ name: "价格", type: "line", showSymbol: false, data: vaHistory.map((p) => [p.at, p.price]), itemStyle: { color: "#c2410c" } }],
      }, true);
    }
  }

  charts.forEach((c) => c.dispose());
  charts = [];
  showRange();
  await load();

  // Live: each event in the feed (once, by its sequence number), the tiles re-read.
  const seen = new Set();
  const reload = debounce(load, 300);
  ctx.subscribe(`subscription($m: ID!) { merchantFeed(merchantId: $m) { seq kind at amount ${USER} referrer { id nickname memberships { memberCode } } } }`,
    { m: session.merchantId }, (data) => {
      const e = data.merchantFeed;
      if (e.kind === "RESYNC") { reload(); return; }
      if (seen.has(e.seq)) return;
      seen.add(e.seq);
      $("#feed-empty")?.remove();
      const who = e.user ? person(e.user) : "";
      const extra = e.kind === "MEMBER_JOINED" && e.referrer ? `，推荐人 ${person(e.referrer)}` : "";
      $("#feed").insertAdjacentHTML("afterbegin", `<li><time>${esc(clock(e.at))}</time><b>${esc(FEED_KIND[e.kind] || e.kind)}</b> ${esc(who)}${esc(extra)} ${e.amount ? `<span class="amount">${esc(yuan(e.amount))}</span>` : ""}</li>`);
      reload();
    }, (err) => { $("#dashboard-error").textContent = describe(err); });
  ctx.onReconnect(reload);

  const exportRange = () => `merchantId=${encodeURIComponent(session.merchantId)}&from=${encodeURIComponent(startOfDay(range.from))}&to=${encodeURIComponent(startOfDay(addDays(range.to, 1)))}`;
  $("#export-orders").onclick = (e) => busy(e.target, () => download(`/export/orders.csv?${exportRange()}`, `订单_${range.from}_${range.to}.csv`)
    .catch((err) => { $("#export-error").textContent = describe(err); }));
  $("#export-ledger").onclick = (e) => busy(e.target, () => download(`/export/ledger.csv?${exportRange()}`, `资金流水_${range.from}_${range.to}.csv`)
    .catch((err) => { $("#export-error").textContent = describe(err); }));
}

// =======================================================================================
// The till

/**
 * One idempotency key per filled form: the same content keeps its key (so a retry after a
 * timeout, a double click or a reload cannot book twice); other content gets a new one.
 * Kept in sessionStorage until the order is recorded.
 */
const TILL_KEY = "fenhong.till.pending";
function keyFor(signature) {
  let pending = null;
  try { pending = JSON.parse(sessionStorage.getItem(TILL_KEY) || "null"); } catch { /* none */ }
  if (pending && pending.signature === signature) return pending.key;
  const key = newKey("till");
  sessionStorage.setItem(TILL_KEY, JSON.stringify({ signature, key }));
  return key;
}
const recorded = () => sessionStorage.removeItem(TILL_KEY);

async function till(view, ctx) {
  const m = session.merchantId;
  const d = await gql(`query($m: ID!) { merchant(id: $m) { stores { id name } programs { rebate { enabled pointValue maxDeductionRatio } } } }`, { m });
  const stores = d.merchant.stores;
  const rebate = d.merchant.programs && d.merchant.programs.rebate;
  if (!stores.length) {
    view.innerHTML = `<section class="card"><h2>收银台</h2>${empty("还没有门店：请店主或店长先在「门店与二维码」中添加门店。")}</section>`;
    return;
  }
  if (!stores.some((s) => s.id === session.tillStore)) { session.tillStore = stores[0].id; saveSession(); }
  view.innerHTML = `<div class="columns"><section class="card" id="till"><h2>收银台</h2>
    <form id="record" autocomplete="off" novalidate>
      <label class="field"><span>门店</span><select name="storeId" id="till-store">${storeOptions(stores, session.tillStore)}</select></label>
      <label class="field"><span>会员码</span><input name="memberCode" id="member-code" inputmode="numeric" required placeholder="顾客出示的会员码"></label>
      <div class="member-card" id="member-card"><span class="muted">输入会员码后显示会员信息</span></div>
      <label class="field"><span>消费金额（元）</span><input name="amount" id="amount" class="big" inputmode="decimal" required placeholder="0.00"></label>
      ${rebate && rebate.enabled ? `<label class="field"><span>使用积分抵扣</span><input name="pointsToUse" id="points" inputmode="numeric" value="0"></label><p class="help" id="points-help"></p>` : ""}
      <label class="check"><input type="checkbox" name="complete" id="complete" checked> 立即完成（到店消费，马上发放奖励）</label>
      <p class="error" id="till-error"></p>
      <div class="actions"><button id="record-button">确认收款并记录</button><button type="button" class="secondary" id="clear">清空</button></div>
    </form></section>
    <section class="card"><h2>本次记录</h2><div id="receipt">${empty("记录成功后在这里显示小票")}</div></section></div>`;

  const form = $("#record");
  let member = null;
  $("#till-store").onchange = (e) => { session.tillStore = e.target.value; saveSession(); };

  const pointsHelp = () => {
    const help = $("#points-help");
    if (!help) return;
    if (!member) { help.textContent = ""; return; }
    const amount = parseAmount($("#amount").value);
    const value = Number(rebate.pointValue), ratio = Number(rebate.maxDeductionRatio);
    const cap = amount ? Math.floor((Number(amount) * ratio) / value + 1e-9) : null;
    const usable = cap == null ? member.points : Math.min(member.points, cap);
    help.textContent = `可用积分 ${integer(member.points)}（每积分抵 ${yuan(rebate.pointValue)}，最多抵扣订单的 ${percent(rebate.maxDeductionRatio)}）` +
      (cap == null ? "" : `，本单最多可用 ${integer(usable)} 积分`);
  };

  const lookup = debounce(async () => {
    const code = normalizeDigits($("#member-code").value);
    const card = $("#member-card");
    member = null;
    card.className = "member-card";
    if (code.length < 4) { card.innerHTML = `<span class="muted">输入会员码后显示会员信息</span>`; pointsHelp(); return; }
    try {
      const found = (await gql(`query($m: ID!, $q: String!) { searchMembers(merchantId: $m, query: $q, first: 5) { nodes {
        memberCode user { id nickname } wallet { cash points pointsOnHold } } } }`, { m, q: code })).searchMembers.nodes;
      if (normalizeDigits($("#member-code").value) !== code) return;
      const exact = found.find((x) => x.memberCode === code);
      if (exact) {
        member = { code, nickname: exact.user.nickname, points: exact.wallet.points, cash: exact.wallet.cash };
        card.className = "member-card found";
        card.innerHTML = `<b id="member-name">${esc(exact.user.nickname || "未设置昵称")}</b>（${esc(code)}）· 积分 <b id="member-points">${integer(exact.wallet.points)}</b>` +
          (exact.wallet.pointsOnHold ? `（另有 ${integer(exact.wallet.pointsOnHold)} 冻结）` : "") + ` · 余额 ${esc(yuan(exact.wallet.cash))}`;
      } else if (found.length) {
        card.innerHTML = `<span class="muted">继续输入…可能是：${found.map((x) => esc(`${x.user.nickname || "未设置昵称"}（${x.memberCode}）`)).join("、")}</span>`;
      } else {
        card.className = "member-card missing";
        card.innerHTML = `没有这个会员码，请核对`;
      }
    } catch (err) {
      card.innerHTML = `<span class="error">${esc(describe(err))}</span>`;
    }
    pointsHelp();
  }, 250);
  $("#member-code").addEventListener("input", lookup);
  $("#amount").addEventListener("input", pointsHelp);

  $("#clear").onclick = () => { form.reset(); $("#till-store").value = session.tillStore; member = null; lookup(); $("#till-error").textContent = ""; };

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const button = $("#record-button");
    if (button.disabled) return;
    const error = $("#till-error");
    error.textContent = "";
    const memberCode = normalizeDigits($("#member-code").value);
    const amount = parseAmount($("#amount").value);
    const points = $("#points") ? parseCount($("#points").value) : 0;
    const storeId = $("#till-store").value;
    const complete = $("#complete").checked;
    if (!/^\d{4,}$/.test(memberCode)) { error.textContent = "请输入顾客的会员码（数字）"; return; }
    if (!amount) { error.textContent = "请输入正确的金额，例如 38 或 38.50"; return; }
    if (points == null) { error.textContent = "抵扣积分须为整数"; return; }
    const input = { storeId, memberCode, amount, pointsToUse: points, complete };
    const signature = JSON.stringify(input);
    const idempotencyKey = keyFor(signature);
    busy(button, async () => {
      try {
        const o = (await gql(`mutation($i: RecordOrderInput!) { recordOrder(input: $i) { id status amount cashPaid pointsUsed createdAt
          store { name } user { id nickname } queueEntry { status position }
          rewards { kind amount unit beneficiary { id nickname memberships { memberCode } } } } }`, { i: { ...input, idempotencyKey } })).recordOrder;
        recorded();
        const storeName = o.store.name;
        $("#receipt").innerHTML = receipt(o, memberCode);
        toast(`已记录 ${yuan(o.amount)}（${storeName}）`);
        form.reset();
        $("#till-store").value = session.tillStore;
        member = null;
        $("#member-card").className = "member-card";
        $("#member-card").innerHTML = `<span class="muted">输入会员码后显示会员信息</span>`;
        pointsHelp();
        $("#member-code").focus();
      } catch (err) {
        error.textContent = describe(err) + (err.code === "TIMEOUT" || err.code === "NETWORK" || err.code === "UNAVAILABLE" ? "（再点一次会安全重试，不会重复记录）" : "");
      }
    }, "记录中…");
  });
}

function receipt(o, memberCode) {
  const rewards = o.rewards.filter((r) => r.kind !== "POOL_CARRY");
  return `<div class="receipt" id="till-receipt"><h3>✓ 已记录订单 #${esc(o.id)}</h3>
    <table class="kv"><tbody>
    ${kv("门店", esc(o.store.name))}
    ${kv("会员", esc(`${o.user.nickname || "未设置昵称"}（${memberCode}）`))}
    ${kv("消费金额", yuan(o.amount), "amount")}
    ${kv("积分抵扣", `${integer(o.pointsUsed)} 积分`)}
    ${kv("实收现金", yuan(o.cashPaid), "amount")}
    ${kv("状态", badge(o.status, ORDER_STATUS))}
    ${kv("时间", esc(time(o.createdAt)))}
    ${o.queueEntry ? `${kv("排队", `${esc(QUEUE_STATUS[o.queueEntry.status] || o.queueEntry.status)}${o.queueEntry.position ? `，第 ${o.queueEntry.position} 位` : ""}`)}` : ""}
    </tbody></table>
    ${rewards.length ? `<p class="muted">本单发放：</p><ul>${rewards.map((r) => `<li>${esc(REWARD_KIND[r.kind] || r.kind)} ${esc(r.unit === "CNY" ? yuan(r.amount) : r.amount + (r.unit === "POINTS" ? " 积分" : " 增值积分"))} → ${esc(r.beneficiary ? person(r.beneficiary) : "奖池")}</li>`).join("")}</ul>` : ""}
  </div>`;
}

// =======================================================================================
// Orders

async function orders(view, ctx) {
  const m = session.merchantId;
  const stores = await storesOf(m);
  // Opened from a member's page: her orders.
  const member = sessionStorage.getItem("fenhong.orders.member") || "";
  sessionStorage.removeItem("fenhong.orders.member");
  const filter = { status: "", store: "", from: "", to: "", member };
  let cursors = [null], pageIndex = 0;
  view.innerHTML = `<section class="card" id="orders"><header><h2>订单</h2></header>
    <div class="filters">
      <label class="field"><span>状态</span><select id="f-status"><option value="">全部</option>${Object.entries(ORDER_STATUS).map(([k, v]) => `<option value="${k}">${v}</option>`).join("")}</select></label>
      <label class="field"><span>门店</span><select id="f-store">${storeOptions(stores, "", "全部门店")}</select></label>
      <label class="field"><span>开始日期</span><input type="date" id="f-from"></label>
      <label class="field"><span>结束日期（含）</span><input type="date" id="f-to"></label>
      <label class="field"><span>会员码</span><input id="f-member" inputmode="numeric" placeholder="全部会员" value="${esc(member)}"></label>
    </div>
    <p class="error" id="orders-error"></p>
    <div id="order-list"></div>
    <div class="pager"><button class="secondary" id="prev">上一页</button><span id="page-no"></span><button class="secondary" id="next">下一页</button></div>
  </section><section class="card" id="order-detail" hidden></section>`;

  async function userOf(code) {
    const found = (await gql(`query($m: ID!, $q: String!) { searchMembers(merchantId: $m, query: $q, first: 5) { nodes { memberCode user { id } } } }`, { m, q: code })).searchMembers.nodes;
    const exact = found.find((x) => x.memberCode === code);
    return exact ? exact.user.id : null;
  }

  async function load() {
    $("#orders-error").textContent = "";
    try {
      let userId = null;
      if (filter.member) {
        userId = await userOf(filter.member);
        if (!userId) { $("#order-list").innerHTML = empty("没有这个会员码"); $("#next").disabled = true; $("#prev").disabled = true; return; }
      }
      const d = (await gql(`query($m: ID!, $status: OrderStatus, $s: ID, $u: ID, $from: DateTime, $to: DateTime, $after: String) {
        orders(merchantId: $m, status: $status, storeId: $s, userId: $u, from: $from, to: $to, first: 20, after: $after) {
          pageInfo { hasNextPage endCursor } nodes { id status amount cashPaid pointsUsed createdAt store { name } ${USER} } } }`, {
        m, status: filter.status || null, s: filter.store || null, u: userId,
        from: filter.from ? startOfDay(filter.from) : null, to: filter.to ? startOfDay(addDays(filter.to, 1)) : null, after: cursors[pageIndex],
      })).orders;
      if (!ctx.current()) return;
      cursors[pageIndex + 1] = d.pageInfo.endCursor;
      $("#next").disabled = !d.pageInfo.hasNextPage;
      $("#prev").disabled = pageIndex === 0;
      $("#page-no").textContent = `第 ${pageIndex + 1} 页`;
      $("#order-list").innerHTML = d.nodes.length ? `<table class="rows"><thead><tr><th>单号</th><th>时间</th><th>会员</th><th>门店</th><th>金额</th><th>实收</th><th>状态</th><th></th></tr></thead><tbody>
        ${d.nodes.map((o) => `<tr class="clickable" data-order="${esc(o.id)}">${td("单号", "#" + esc(o.id))}${td("时间", esc(time(o.createdAt)))}${td("会员", esc(person(o.user)))}
          ${td("门店", esc(o.store.name))}${td("金额", yuan(o.amount), "amount")}${td("实收", yuan(o.cashPaid) + (o.pointsUsed ? `<br><span class="muted">积分 ${integer(o.pointsUsed)}</span>` : ""), "amount")}
          ${td("状态", badge(o.status, ORDER_STATUS))}${td("", `<button class="link" data-order="${esc(o.id)}">详情</button>`)}</tr>`).join("")}</tbody></table>`
        : empty("没有符合条件的订单");
      $$("#order-list [data-order]").forEach((el) => el.onclick = (e) => { e.stopPropagation(); detail(el.dataset.order); });
    } catch (err) { $("#orders-error").textContent = describe(err); }
  }

  async function detail(id) {
    const box = $("#order-detail");
    box.hidden = false;
    box.innerHTML = `<p class="empty">正在加载…</p>`;
    try {
      const d = (await gql(`query($id: ID!) { order(id: $id) { id status amount cashPaid pointsUsed createdAt completedAt refundedAt refundedAmount refundReason
        programVersion idempotencyKey store { name } ${USER} queueEntry { status position received target }
        refunds { amount status reason createdAt } rewards { kind amount unit beneficiary { id nickname memberships { memberCode } } } } }`, { id })).order;
      if (!d) { box.innerHTML = empty("没有找到这笔订单"); return; }
      box.innerHTML = `<header><h2>订单 #${esc(d.id)} ${badge(d.status, ORDER_STATUS)}</h2><button class="secondary" id="close-detail">关闭</button></header>
        <table class="kv"><tbody>
          ${kv("会员", esc(person(d.user)))}${kv("门店", esc(d.store.name))}
          ${kv("金额", yuan(d.amount), "amount")}${kv("积分抵扣", integer(d.pointsUsed) + " 积分")}${kv("实收", yuan(d.cashPaid), "amount")}
          ${kv("下单时间", esc(time(d.createdAt)))}
          ${d.completedAt ? `${kv("完成时间", esc(time(d.completedAt)))}` : ""}
          ${d.refundedAt ? `${kv("退款时间", esc(time(d.refundedAt)))}${kv("退款原因", esc(d.refundReason || "—"))}` : ""}
          ${Number(d.refundedAmount) > 0 ? `${kv("已退金额", yuan(d.refundedAmount), "amount")}` : ""}
          ${d.programVersion ? `${kv("活动版本", "第 " + esc(d.programVersion) + " 版")}` : ""}
          ${d.queueEntry ? `${kv("排队", `${esc(QUEUE_STATUS[d.queueEntry.status] || d.queueEntry.status)}${d.queueEntry.position ? `，第 ${d.queueEntry.position} 位` : ""}，已返 ${yuan(d.queueEntry.received)} / ${yuan(d.queueEntry.target)}`)}` : ""}
        </tbody></table>
        <h3>本单发放的奖励</h3>
        ${d.rewards.length ? `<table class="rows"><thead><tr><th>类型</th><th>获得者</th><th>数额</th></tr></thead><tbody>${d.rewards.map((r) => `<tr>${td("类型", esc(REWARD_KIND[r.kind] || r.kind))}${td("获得者", esc(r.beneficiary ? person(r.beneficiary) : "奖池"))}${td("数额", r.unit === "CNY" ? yuan(r.amount) : esc(r.amount) + (r.unit === "POINTS" ? " 积分" : " 增值积分"), "amount")}</tr>`).join("")}</tbody></table>` : empty(d.status === "COMPLETED" ? "本单没有发放奖励" : "订单完成后发放奖励")}
        ${d.refunds.length ? `<h3>微信退款</h3><ul>${d.refunds.map((r) => `<li>${esc(time(r.createdAt))} ${yuan(r.amount)} ${esc({ PROCESSING: "处理中", SUCCESS: "已退款", CLOSED: "已关闭", FAILED: "失败" }[r.status] || r.status)} ${esc(r.reason || "")}</li>`).join("")}</ul>` : ""}
        <p class="error" id="detail-error"></p>
        <div class="actions">${d.status === "PAID" ? `<button id="complete-order">完成订单（发放奖励）</button><button class="danger" id="refund-order">退款</button>` : ""}</div>`;
      $("#close-detail").onclick = () => { box.hidden = true; };
      const act = async (button, work, done) => busy(button, async () => {
        try { await work(); toast(done); await load(); await detail(id); } catch (err) { $("#detail-error").textContent = describe(err); }
      });
      $("#complete-order")?.addEventListener("click", async (e) => {
        if (await confirmDialog({ title: `完成订单 #${id}？`, body: "完成后立即按活动规则发放奖励，不能撤销。", confirm: "完成" }) === null) return;
        act(e.target, () => gql(`mutation($o: ID!) { completeOrder(orderId: $o) { id } }`, { o: id }), "订单已完成");
      });
      $("#refund-order")?.addEventListener("click", async (e) => {
        const reason = await confirmDialog({ title: `退款订单 #${id}？`, body: `将退还 ${yuan(d.amount)}${d.pointsUsed ? `，并退回 ${integer(d.pointsUsed)} 积分` : ""}。`, confirm: "确认退款", note: "退款原因（顾客可见）", danger: true });
        if (reason === null) return;
        act(e.target, () => gql(`mutation($o: ID!, $r: String) { refundOrder(orderId: $o, reason: $r) { id } }`, { o: id, r: reason || null }), "已提交退款");
      });
      box.scrollIntoView({ behavior: "smooth", block: "start" });
    } catch (err) { box.innerHTML = `<p class="error">${esc(describe(err))}</p>`; }
  }

  const refilter = () => { cursors = [null]; pageIndex = 0; load(); };
  $("#f-status").onchange = (e) => { filter.status = e.target.value; refilter(); };
  $("#f-store").onchange = (e) => { filter.store = e.target.value; refilter(); };
  $("#f-from").onchange = (e) => { filter.from = e.target.value; refilter(); };
  $("#f-to").onchange = (e) => { filter.to = e.target.value; refilter(); };
  $("#f-member").addEventListener("input", debounce((e) => { filter.member = normalizeDigits(e.target.value); refilter(); }, 400));
  $("#next").onclick = () => { pageIndex += 1; load(); };
  $("#prev").onclick = () => { pageIndex = Math.max(0, pageIndex - 1); load(); };
  await load();
  ctx.onReconnect(load);
}

// =======================================================================================
// Members

async function members(view, ctx) {
  const m = session.merchantId;
  let cursors = [null], pageIndex = 0, search = "";
  view.innerHTML = `<section class="card" id="members"><header><h2>会员</h2></header>
    <label class="field"><span>搜索会员码或昵称</span><input id="member-search" type="search" placeholder="如 12345678 或 小李" autocomplete="off"></label>
    <p class="error" id="members-error"></p><div id="member-list"></div>
    <div class="pager"><button class="secondary" id="prev">上一页</button><span id="page-no"></span><button class="secondary" id="next">下一页</button></div>
  </section><section class="card" id="member-detail" hidden></section>`;

  async function load() {
    $("#members-error").textContent = "";
    try {
      const d = (await gql(`query($m: ID!, $q: String, $after: String) { searchMembers(merchantId: $m, query: $q, first: 20, after: $after) {
        pageInfo { hasNextPage endCursor } nodes { id memberCode joinedAt referralCount store { name } user { id nickname } referrer { id nickname memberships { memberCode } }
        wallet { cash cashOnHold points } } } }`, { m, q: search, after: cursors[pageIndex] })).searchMembers;
      if (!ctx.current()) return;
      cursors[pageIndex + 1] = d.pageInfo.endCursor;
      $("#next").disabled = !d.pageInfo.hasNextPage;
      $("#prev").disabled = pageIndex === 0;
      $("#page-no").textContent = `第 ${pageIndex + 1} 页`;
      $("#member-list").innerHTML = d.nodes.length ? `<table class="rows"><thead><tr><th>会员</th><th>会员码</th><th>加入</th><th>推荐人</th><th>推荐人数</th><th>余额</th><th>积分</th></tr></thead><tbody>
        ${d.nodes.map((x) => `<tr class="clickable" data-member="${esc(x.memberCode)}">${td("会员", `<b>${esc(x.user.nickname || "未设置昵称")}</b>`)}${td("会员码", esc(x.memberCode))}
          ${td("加入", esc(time(x.joinedAt)) + (x.store ? `<br><span class="muted">${esc(x.store.name)}</span>` : ""))}${td("推荐人", esc(x.referrer ? person(x.referrer) : "—"))}
          ${td("推荐人数", integer(x.referralCount))}${td("余额", yuan(x.wallet.cash) + (Number(x.wallet.cashOnHold) > 0 ? `<br><span class="muted">提现中 ${yuan(x.wallet.cashOnHold)}</span>` : ""), "amount")}
          ${td("积分", integer(x.wallet.points))}</tr>`).join("")}</tbody></table>`
        : empty(search ? "没有找到匹配的会员" : "还没有会员：顾客扫门店二维码即可加入");
      $$("#member-list [data-member]").forEach((row) => row.onclick = () => detail(row.dataset.member));
    } catch (err) { $("#members-error").textContent = describe(err); }
  }

  async function detail(code) {
    const box = $("#member-detail");
    box.hidden = false;
    box.innerHTML = `<p class="empty">正在加载…</p>`;
    try {
      const x = (await gql(`query($m: ID!, $q: String!) { searchMembers(merchantId: $m, query: $q, first: 5) { nodes { memberCode joinedAt referralCount
        store { name } user { id nickname } referrer { id nickname memberships { memberCode } }
        wallet { cash cashOnHold points pointsOnHold valueAddedPoints transactions(first: 30) { nodes { id at kind amount unit memo } } }
        queueEntries { id status position received target createdAt } withdrawals { id amount status createdAt } } } }`, { m, q: code })).searchMembers.nodes.find((n) => n.memberCode === code);
      if (!x) { box.innerHTML = empty("没有找到这位会员"); return; }
      const w = x.wallet;
      box.innerHTML = `<header><h2>${esc(x.user.nickname || "未设置昵称")}（${esc(x.memberCode)}）</h2><button class="secondary" id="close-detail">关闭</button></header>
        <p class="muted">${esc(time(x.joinedAt))} 在 ${esc(x.store ? x.store.name : "—")} 加入 · 推荐人 ${esc(x.referrer ? person(x.referrer) : "无")} · 推荐了 ${integer(x.referralCount)} 人</p>
        <div class="tiles"><div class="tile"><b>${yuan(w.cash)}</b><span>可提现余额</span></div><div class="tile"><b>${yuan(w.cashOnHold)}</b><span>提现中</span></div>
          <div class="tile"><b>${integer(w.points)}</b><span>积分${w.pointsOnHold ? `（冻结 ${integer(w.pointsOnHold)}）` : ""}</span></div><div class="tile"><b>${esc(w.valueAddedPoints)}</b><span>增值积分</span></div></div>
        <h3>排队</h3>${x.queueEntries.length ? `<ul>${x.queueEntries.map((e) => `<li>${badge(e.status, QUEUE_STATUS)} ${e.position ? `第 ${e.position} 位，` : ""}已返 ${yuan(e.received)} / ${yuan(e.target)}（${esc(time(e.createdAt))}）</li>`).join("")}</ul>` : empty("没有排队记录")}
        <h3>资金与积分明细（最近 30 条）</h3>${w.transactions.nodes.length ? `<ul class="lines">${w.transactions.nodes.map((t) => { const l = ledgerLine(t); return `<li><span>${esc(l.title)}<small>${esc(time(t.at))}</small></span><b class="amount ${l.negative ? "neg" : "pos"}">${esc(l.amount)}</b></li>`; }).join("")}</ul>` : empty("还没有变动")}
        <div class="actions"><a href="#orders" id="member-orders">查看 TA 的订单</a></div>`;
      $("#member-orders").onclick = () => sessionStorage.setItem("fenhong.orders.member", x.memberCode);
      $("#close-detail").onclick = () => { box.hidden = true; };
      box.scrollIntoView({ behavior: "smooth", block: "start" });
    } catch (err) { box.innerHTML = `<p class="error">${esc(describe(err))}</p>`; }
  }

  $("#member-search").addEventListener("input", debounce((e) => { search = normalizeDigits(e.target.value); cursors = [null]; pageIndex = 0; load(); }, 300));
  $("#next").onclick = () => { pageIndex += 1; load(); };
  $("#prev").onclick = () => { pageIndex = Math.max(0, pageIndex - 1); load(); };
  await load();
}

// =======================================================================================
// Queue

async function queue(view, ctx) {
  const m = session.merchantId;
  const PAGE = 20;
  let offset = 0;
  view.innerHTML = `<section class="card" id="queue"><header><h2>排队免单</h2><span class="muted">实时更新</span></header>
    <div class="tiles" id="queue-stats"></div><p class="error" id="queue-error"></p><div id="queue-list"></div>
    <div class="pager"><button class="secondary" id="prev">上一页</button><span id="page-no"></span><button class="secondary" id="next">下一页</button></div></section>`;
  async function load() {
    try {
      const d = (await gql(`query($m: ID!, $first: Int!, $offset: Int!) { merchant(id: $m) { programs { queue { enabled activeSlots } }
        queueStats { waiting active completed pool } queue(first: $first, offset: $offset) { id status position received target createdAt etaSeconds
        order { id amount cashPaid ${USER} } } } }`, { m, first: PAGE, offset })).merchant;
      if (!ctx.current()) return;
      const q = d.queueStats;
      $("#queue-error").textContent = "";
      $("#queue-stats").innerHTML = `<div class="tile"><b>${q.active}</b><span>返还中</span></div><div class="tile"><b>${q.waiting}</b><span>等待中</span></div>
        <div class="tile"><b>${q.completed}</b><span>已免单</span></div><div class="tile"><b>${yuan(q.pool)}</b><span>奖池</span></div>`;
      const live = q.active + q.waiting;
      const pages = Math.max(1, Math.ceil(live / PAGE));
      $("#page-no").textContent = `第 ${offset / PAGE + 1} / ${pages} 页`;
      $("#prev").disabled = offset === 0;
      $("#next").disabled = offset + PAGE >= live;
      $("#queue-list").innerHTML = d.queue.length ? `<table class="rows"><thead><tr><th>名次</th><th>会员</th><th>状态</th><th>已返 / 应返</th><th>订单</th><th>入队时间</th></tr></thead><tbody>
        ${d.queue.map((e) => `<tr>${td("名次", `<b>${esc(e.position)}</b>`)}${td("会员", esc(person(e.order.user)))}${td("状态", badge(e.status, QUEUE_STATUS))}
          ${td("已返 / 应返", `${yuan(e.received)} / ${yuan(e.target)}`, "amount")}${td("订单", `#${esc(e.order.id)} ${yuan(e.order.cashPaid)}`)}${td("入队时间", esc(time(e.createdAt)))}</tr>`).join("")}</tbody></table>`
        : empty(d.programs && d.programs.queue && d.programs.queue.enabled ? "队列是空的" : "排队免单活动未开启（在「活动设置」中开启）");
    } catch (err) { $("#queue-error").textContent = describe(err); }
  }
  $("#next").onclick = () => { offset += PAGE; load(); };
  $("#prev").onclick = () => { offset = Math.max(0, offset - PAGE); load(); };
  await load();
  const reload = debounce(load, 300);
  ctx.subscribe(`subscription($m: ID!) { merchantFeed(merchantId: $m) { seq kind } }`, { m }, (d) => {
    if (["ORDER_COMPLETED", "ORDER_REFUNDED", "RESYNC"].includes(d.merchantFeed.kind)) reload();
  });
  ctx.onReconnect(reload);
}

// =======================================================================================
// Withdrawals

async function withdrawals(view, ctx) {
  const m = session.merchantId;
  const TABS = [["PENDING", "待审核"], ["TRANSFERRING", "转账中"], ["PAID", "已到账"], ["APPROVED", "线下打款"], ["REJECTED", "已拒绝"], ["FAILED", "未成功"], ["", "全部"]];
  let status = "PENDING";
  view.innerHTML = `<section class="card" id="withdrawals"><header><h2>提现审核</h2></header>
    <div class="tabs" id="withdrawal-tabs">${TABS.map(([k, v]) => `<button data-status="${k}" class="${k === status ? "active" : ""}">${v}</button>`).join("")}</div>
    <p class="error" id="withdrawals-error"></p><div id="withdrawal-list"></div></section>`;
  async function load() {
    try {
      const list = (await gql(`query($m: ID!, $s: WithdrawalStatus) { withdrawals(merchantId: $m, status: $s) { id amount fee net status createdAt reviewedAt note failReason ${USER} } }`,
        { m, s: status || null })).withdrawals;
      if (!ctx.current()) return;
      $("#withdrawals-error").textContent = "";
      $("#withdrawal-list").innerHTML = list.length ? `<table class="rows"><thead><tr><th>申请时间</th><th>会员</th><th>金额</th><th>手续费</th><th>实得</th><th>状态</th><th>备注</th><th></th></tr></thead><tbody>
        ${list.map((w) => `<tr>${td("申请时间", esc(time(w.createdAt)))}${td("会员", esc(person(w.user)))}${td("金额", yuan(w.amount), "amount")}${td("手续费", yuan(w.fee), "amount")}
          ${td("实得", yuan(w.net), "amount")}${td("状态", badge(w.status, WITHDRAWAL_STATUS) + (w.reviewedAt ? `<br><span class="muted">${esc(time(w.reviewedAt))}</span>` : ""))}
          ${td("备注", esc([w.note, w.failReason].filter(Boolean).join("；")))}
          ${td("", w.status === "PENDING" ? `<div class="actions"><button data-approve="${esc(w.id)}">通过</button><button class="secondary" data-reject="${esc(w.id)}">拒绝</button></div>` : "")}</tr>`).join("")}</tbody></table>`
        : empty(status === "PENDING" ? "没有待审核的提现" : "没有记录");
      const byId = new Map(list.map((w) => [w.id, w]));
      const review = async (button, id, approve) => {
        const w = byId.get(id);
        const note = await confirmDialog({
          title: approve ? "通过这笔提现？" : "拒绝这笔提现？",
          body: `${esc(person(w.user))} 申请提现 ${esc(yuan(w.amount))}，手续费 ${esc(yuan(w.fee))}，${approve ? `将转给顾客 ${esc(yuan(w.net))}` : "金额将退回顾客余额"}。`,
          confirm: approve ? "通过" : "拒绝", note: approve ? "备注（可不填）" : "拒绝原因（顾客可见）", danger: !approve,
        });
        if (note === null) return;
        busy(button, async () => {
          try {
            const r = (await gql(`mutation($w: ID!, $a: Boolean!, $n: String) { reviewWithdrawal(withdrawalId: $w, approve: $a, note: $n) { id status } }`, { w: id, a: approve, n: note || null })).reviewWithdrawal;
            toast(`提现 ${WITHDRAWAL_STATUS[r.status] || r.status}`);
            load();
          } catch (err) { $("#withdrawals-error").textContent = describe(err); }
        });
      };
      $$("[data-approve]").forEach((b) => b.onclick = () => review(b, b.dataset.approve, true));
      $$("[data-reject]").forEach((b) => b.onclick = () => review(b, b.dataset.reject, false));
    } catch (err) { $("#withdrawals-error").textContent = describe(err); }
  }
  $$("#withdrawal-tabs button").forEach((b) => b.onclick = () => {
    status = b.dataset.status;
    $$("#withdrawal-tabs button").forEach((x) => x.classList.toggle("active", x === b));
    load();
  });
  await load();
  const reload = debounce(load, 300);
  ctx.subscribe(`subscription($m: ID!) { merchantFeed(merchantId: $m) { seq kind } }`, { m }, (d) => {
    if (d.merchantFeed.kind.startsWith("WITHDRAWAL") || d.merchantFeed.kind === "RESYNC") reload();
  });
  ctx.onReconnect(reload);
}

// =======================================================================================
// Programs

const DEFAULTS = {
  queue: { enabled: true, activeSlots: 3, queueRatio: "0.40", referralRatio: "0.20", secondLevelRatio: "0", capMultiple: "1", minOrderAmount: "0" },
  rebate: { enabled: false, rebateRate: "0.05", pointValue: "1.00", pointsExpiryDays: 365, maxDeductionRatio: "0.50" },
  valueAdded: { enabled: false, poolRatio: "0.30", mintRatio: "0.70", initialPrice: "1.0000", redeemFeeRatio: "0.10", exitThreshold: "0", exitPortion: "0.50" },
  withdrawal: { minWithdrawal: "10.00", feeRatio: "0", maxWithdrawal: "200.00", transferSceneId: "1000" },
};

async function programs(view, ctx) {
  const m = session.merchantId;
  const d = await gql(`query($m: ID!) { merchant(id: $m) { programs { version payoutRatio maxPayoutRatio autoCompleteDays
    queue { enabled activeSlots queueRatio referralRatio secondLevelRatio capMultiple minOrderAmount }
    rebate { enabled rebateRate pointValue pointsExpiryDays maxDeductionRatio }
    valueAdded { enabled poolRatio mintRatio initialPrice redeemFeeRatio exitThreshold exitPortion }
    withdrawal { minWithdrawal feeRatio maxWithdrawal transferSceneId } } } }`, { m });
  const p = d.merchant.programs || {};
  const q = p.queue || DEFAULTS.queue, r = p.rebate || DEFAULTS.rebate, v = p.valueAdded || DEFAULTS.valueAdded, w = p.withdrawal || DEFAULTS.withdrawal;
  const pct = (name, value, label, help) => `<label class="field"><span>${label}（%）</span><input name="${name}" data-percent value="${esc(percent(value).replace("%", ""))}" inputmode="decimal"></label>${help ? `<p class="help">${help}</p>` : ""}`;
  const num = (name, value, label, help, mode = "decimal") => `<label class="field"><span>${label}</span><input name="${name}" value="${esc(value)}" inputmode="${mode}"></label>${help ? `<p class="help">${help}</p>` : ""}`;
  const on = (name, value, label) => `<label class="check"><input type="checkbox" name="${name}" ${value ? "checked" : ""}> ${label}</label>`;
  view.innerHTML = `<form id="programs" novalidate>
    <section class="card"><header><h2>活动设置</h2><span class="muted" id="program-version">${p.version ? `当前第 ${esc(p.version)} 版，总返利比例 ${esc(percent(p.payoutRatio))}` : "尚未设置"}</span></header>
      <p class="help">每次保存生成新版本；已完成的订单按当时的版本结算，不会被改写。</p></section>
    <div class="columns">
    <section class="card"><h2>排队免单</h2>${on("queueEnabled", q.enabled, "开启排队免单")}
      ${num("activeSlots", q.activeSlots, "同时返还的名额 N", "排在最前面的 N 笔订单平分每笔新订单的返现，直到各自拿回订单金额 × 返还倍数。", "numeric")}
      ${pct("queueRatio", q.queueRatio, "每单拿出用于返现的比例", "例如 40：每 100 元订单拿出 40 元分给前 N 名。")}
      ${pct("referralRatio", q.referralRatio, "推荐奖励比例", "下单会员有推荐人时给推荐人；没有推荐人时并入返现。")}
      ${pct("secondLevelRatio", q.secondLevelRatio, "二级推荐奖励比例", "给推荐人的推荐人；法律上最多两级，默认 0。")}
      ${num("capMultiple", q.capMultiple, "返还倍数", "1 表示每笔订单最多返还订单金额本身。")}
      ${num("minOrderAmount", q.minOrderAmount, "参与排队的最低订单金额（元）", "")}
      <label class="field"><span>模拟订单（会员:金额[:推荐人]，逗号分隔）</span><input name="sample" value="A:1000,B:1000,C:1000,D:600,E:1000,F:200:P,G:300"></label>
      <div class="actions"><button type="button" class="secondary" id="preview">按上面的规则模拟</button></div>
      <div id="simulation"></div></section>
    <section class="card"><h2>消费返积分</h2>${on("rebateEnabled", r.enabled, "开启消费返积分")}
      ${num("rebateRate", r.rebateRate, "每消费 1 元返的积分", "例如 0.05：每 100 元返 5 积分（向下取整）。")}
      ${num("pointValue", r.pointValue, "每积分抵扣的金额（元）", "")}
      ${num("pointsExpiryDays", r.pointsExpiryDays, "积分有效天数", "0 表示永不过期。", "numeric")}
      ${pct("maxDeductionRatio", r.maxDeductionRatio, "积分最多抵扣订单的比例", "")}</section>
    <section class="card"><h2>消费增值积分</h2>${on("vaEnabled", v.enabled, "开启消费增值")}
      ${pct("poolRatio", v.poolRatio, "每单进入增值池的比例", "积分价格 = 池中金额 ÷ 积分总量，始终有足额资金兑付。")}
      ${pct("mintRatio", v.mintRatio, "按订单金额发放积分的比例", "发放比例高于入池比例时，每次发放会摊薄价格。")}
      ${num("initialPrice", v.initialPrice, "初始价格（元 / 积分）", "")}
      ${pct("redeemFeeRatio", v.redeemFeeRatio, "卖出手续费", "手续费留在池中，推高价格。")}
      ${num("exitThreshold", v.exitThreshold, "强制退出门槛（积分）", "持有达到该数量时自动卖出一部分；0 表示不启用。")}
      ${pct("exitPortion", v.exitPortion, "强制退出卖出的比例", "")}</section>
    <section class="card"><h2>提现与结算</h2>
      ${num("minWithdrawal", w.minWithdrawal, "最低提现金额（元）", "")}
      ${num("maxWithdrawal", w.maxWithdrawal, "单笔最高提现金额（元）", "")}
      ${pct("feeRatio", w.feeRatio, "提现手续费", "")}
      ${num("transferSceneId", w.transferSceneId, "微信转账场景 ID", "默认 1000（现金营销）。", "numeric")}
      ${num("autoCompleteDays", p.autoCompleteDays ?? 7, "微信支付订单自动完成天数", "未在门店当场完成的订单，过了这些天自动完成并发放奖励。", "numeric")}
      ${pct("maxPayoutRatio", p.maxPayoutRatio || "1", "总返利上限", "排队 + 推荐 + 二级 + 返积分 + 增值入池 之和不能超过它，保证不会亏本送钱。")}</section>
    </div>
    <section class="card"><p class="error" id="programs-error"></p><div class="actions"><button id="save-programs">保存为新版本</button></div></section>
  </form>`;
  const form = $("#programs");
  const values = () => {
    const f = Object.fromEntries(new FormData(form));
    for (const input of $$("[data-percent]", form)) {
      const ratio = ratioFromPercent(input.value);
      if (ratio === null) throw new Error(`「${input.closest("label").querySelector("span").textContent}」须为数字`);
      f[input.name] = ratio;
    }
    for (const k of ["activeSlots", "pointsExpiryDays", "autoCompleteDays"]) {
      const n = parseCount(f[k]);
      if (n === null) throw new Error("名额和天数须为整数");
      f[k] = n;
    }
    for (const k of ["capMultiple", "minOrderAmount", "rebateRate", "pointValue", "initialPrice", "exitThreshold", "minWithdrawal", "maxWithdrawal"]) f[k] = normalizeDigits(f[k]);
    return f;
  };
  const queueInput = (f) => ({ enabled: !!f.queueEnabled, activeSlots: f.activeSlots, queueRatio: f.queueRatio, referralRatio: f.referralRatio, secondLevelRatio: f.secondLevelRatio, capMultiple: f.capMultiple, minOrderAmount: f.minOrderAmount });
  $("#preview").onclick = (e) => busy(e.target, async () => {
    $("#programs-error").textContent = "";
    try {
      const f = values();
      const orders = f.sample.split(/[,，]/).map((s) => s.trim().split(/[:：]/)).filter((x) => x[0]).map(([user, amount, referrer]) => ({ user, amount: normalizeDigits(amount), referrer: referrer || null }));
      const s = (await gql(`query($r: QueueRulesInput!, $o: [SimulatedOrderInput!]!) { simulateQueue(rules: $r, orders: $o) { pool completedOrders waitingOrders totalPaid payoutRatio payouts { order user kind amount } } }`, { r: queueInput(f), o: orders })).simulateQueue;
      $("#simulation").innerHTML = `<p id="simulation-summary">共返出 ${yuan(s.totalPaid)}（占成交额 ${percent(s.payoutRatio)}），奖池 ${yuan(s.pool)}，免单完成 ${s.completedOrders} 笔，仍在排队 ${s.waitingOrders} 笔</p>
        <table class="rows"><thead><tr><th>第几单</th><th>获得者</th><th>类型</th><th>金额</th></tr></thead><tbody>${s.payouts.map((x) => `<tr>${td("第几单", x.order)}${td("获得者", esc(x.user === "pool" ? "奖池" : x.user))}${td("类型", esc(REWARD_KIND[x.kind] || x.kind))}${td("金额", yuan(x.amount), "amount")}</tr>`).join("")}</tbody></table>`;
    } catch (err) { $("#programs-error").textContent = err instanceof Error && !err.code ? err.message : describe(err); }
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy($("#save-programs"), async () => {
      $("#programs-error").textContent = "";
      try {
        const f = values();
        const input = {
          queue: queueInput(f),
          rebate: { enabled: !!f.rebateEnabled, rebateRate: f.rebateRate, pointValue: f.pointValue, pointsExpiryDays: f.pointsExpiryDays, maxDeductionRatio: f.maxDeductionRatio },
          valueAdded: { enabled: !!f.vaEnabled, poolRatio: f.poolRatio, mintRatio: f.mintRatio, initialPrice: f.initialPrice, redeemFeeRatio: f.redeemFeeRatio, exitThreshold: f.exitThreshold, exitPortion: f.exitPortion },
          withdrawal: { minWithdrawal: f.minWithdrawal, feeRatio: f.feeRatio, maxWithdrawal: f.maxWithdrawal, transferSceneId: f.transferSceneId },
          autoCompleteDays: f.autoCompleteDays, maxPayoutRatio: f.maxPayoutRatio,
        };
        const saved = (await gql(`mutation($m: ID!, $i: ProgramsInput!) { configurePrograms(merchantId: $m, input: $i) { version payoutRatio } }`, { m, i: input })).configurePrograms;
        $("#program-version").textContent = `当前第 ${saved.version} 版，总返利比例 ${percent(saved.payoutRatio)}`;
        toast(`已保存为第 ${saved.version} 版`);
      } catch (err) { $("#programs-error").textContent = err instanceof Error && !err.code ? err.message : describe(err); }
    }, "保存中…");
  });
  void ctx;
}

// =======================================================================================
// Stores

async function stores(view, ctx) {
  const m = session.merchantId;
  const d = (await gql(`query($m: ID!) { merchant(id: $m) { name stores { id name completeOnPayment qrCode { scene svg } } } }`, { m })).merchant;
  view.innerHTML = `<section class="card no-print"><h2>门店</h2>
      <form id="new-store" class="actions"><input name="name" placeholder="新门店名称" required maxlength="64" style="flex:1;min-width:10rem"><button>添加门店</button></form>
      <p class="error" id="stores-error"></p>
      ${d.stores.length ? `<table class="rows"><thead><tr><th>门店</th><th>微信支付订单</th><th></th></tr></thead><tbody>${d.stores.map((s) => `<tr>${td("门店", esc(s.name))}
        ${td("微信支付订单", `<label class="check"><input type="checkbox" data-complete="${esc(s.id)}" ${s.completeOnPayment ? "checked" : ""}> 支付后立即完成</label>`)}
        ${td("", `<button class="link" data-rename="${esc(s.id)}" data-name="${esc(s.name)}">改名</button>`)}</tr>`).join("")}</tbody></table>` : ""}
    </section>
    <section class="card"><header><h2>门店二维码海报</h2><button class="secondary no-print" id="print">打印海报</button></header>
      <p class="muted no-print">顾客用微信扫码即可成为会员、参加排队免单。打印后贴在收银台。</p>
      <div class="posters" id="posters">${d.stores.map((s) => `<div class="poster qr"><p class="slogan">扫码入会 · 消费排队免单</p><h3>${esc(d.name)}</h3><p>${esc(s.name)}</p>
        ${s.qrCode.svg.replace(/^<\?xml[^>]*>/, "")}<p class="muted">微信扫一扫</p><p class="no-print"><a href="/console/join?scene=${encodeURIComponent(s.qrCode.scene)}">打开加入页面</a></p></div>`).join("") || empty("添加门店后生成二维码")}</div></section>`;
  $("#new-store").addEventListener("submit", (event) => {
    event.preventDefault();
    const name = new FormData(event.target).get("name").trim();
    busy($("button", event.target), async () => {
      try { await gql(`mutation($m: ID!, $n: String!) { createStore(merchantId: $m, name: $n) { id } }`, { m, n: name }); toast("门店已添加"); ctx.rerender(); }
      catch (err) { $("#stores-error").textContent = describe(err); }
    });
  });
  $$("[data-complete]").forEach((box) => box.onchange = async () => {
    try { await gql(`mutation($s: ID!, $c: Boolean!) { updateStore(storeId: $s, input: { completeOnPayment: $c }) { id } }`, { s: box.dataset.complete, c: box.checked }); toast("已保存"); }
    catch (err) { box.checked = !box.checked; $("#stores-error").textContent = describe(err); }
  });
  $$("[data-rename]").forEach((b) => b.onclick = async () => {
    const name = await confirmDialog({ title: `修改「${b.dataset.name}」的名称`, confirm: "保存", note: "新名称" });
    if (!name) return;
    try { await gql(`mutation($s: ID!, $n: String!) { updateStore(storeId: $s, input: { name: $n }) { id } }`, { s: b.dataset.rename, n: name }); ctx.rerender(); }
    catch (err) { $("#stores-error").textContent = describe(err); }
  });
  $("#print").onclick = () => window.print();
}

// =======================================================================================
// Staff

async function staff(view, ctx) {
  const m = session.merchantId;
  const list = (await gql(`query($m: ID!) { merchant(id: $m) { staff { id username role disabled createdAt } } }`, { m })).merchant.staff;
  const roleSelect = (name, value, disabled = false) => `<select name="${name}" ${disabled ? "disabled" : ""}>${Object.entries(ROLE).map(([k, v]) => `<option value="${k}" ${k === value ? "selected" : ""}>${v}</option>`).join("")}</select>`;
  view.innerHTML = `<section class="card" id="staff"><h2>员工</h2><p class="error" id="staff-error"></p>
    <table class="rows"><thead><tr><th>用户名</th><th>角色</th><th>状态</th><th>创建时间</th><th></th></tr></thead><tbody>
    ${list.map((s) => { const me = s.username === session.username; return `<tr>${td("用户名", esc(s.username) + (me ? "（我）" : ""))}
      ${td("角色", roleSelect("role-" + s.id, s.role, me).replace("<select", `<select data-role="${esc(s.id)}"`))}
      ${td("状态", s.disabled ? `<span class="badge REJECTED">已停用</span>` : `<span class="badge COMPLETED">正常</span>`)}${td("创建时间", esc(time(s.createdAt)))}
      ${td("", me ? "" : `<div class="actions"><button class="secondary" data-toggle="${esc(s.id)}" data-disabled="${s.disabled}">${s.disabled ? "启用" : "停用"}</button><button class="secondary" data-password="${esc(s.id)}" data-name="${esc(s.username)}">重设密码</button></div>`)}</tr>`; }).join("")}
    </tbody></table>
    <p class="help">店主：全部功能；店长：除员工和商户设置外的全部功能；收银员：收银台、订单和会员查询。停用或重设密码会让该账号在所有设备上退出登录。</p></section>
    <section class="card"><h2>添加员工</h2><form id="new-staff" autocomplete="off">
      <label class="field"><span>用户名</span><input name="username" required autocapitalize="off"></label>
      <label class="field"><span>初始密码（至少 8 位）</span><input name="password" type="password" required minlength="8" autocomplete="new-password"></label>
      <label class="field"><span>角色</span>${roleSelect("role", "CASHIER")}</label>
      <p class="error" id="new-staff-error"></p><div class="actions"><button>添加</button></div></form></section>`;
  const update = async (id, input, done) => {
    try { await gql(`mutation($s: ID!, $i: UpdateStaffInput!) { updateStaff(staffId: $s, input: $i) { id } }`, { s: id, i: input }); toast(done); ctx.rerender(); }
    catch (err) { $("#staff-error").textContent = describe(err); }
  };
  $$("[data-role]").forEach((sel) => sel.onchange = () => update(sel.dataset.role, { role: sel.value }, "角色已修改"));
  $$("[data-toggle]").forEach((b) => b.onclick = async () => {
    const disable = b.dataset.disabled !== "true";
    if (disable && await confirmDialog({ title: "停用这个账号？", body: "该账号会立即退出登录，且不能再登录，直到重新启用。", confirm: "停用", danger: true }) === null) return;
    update(b.dataset.toggle, { disabled: disable }, disable ? "已停用" : "已启用");
  });
  $$("[data-password]").forEach((b) => b.onclick = async () => {
    const password = await confirmDialog({ title: `为 ${b.dataset.name} 设置新密码`, body: "至少 8 位；该账号会在所有设备上退出登录。", confirm: "保存", note: "新密码" });
    if (!password) return;
    update(b.dataset.password, { password }, "密码已重设");
  });
  $("#new-staff").addEventListener("submit", (event) => {
    event.preventDefault();
    const f = Object.fromEntries(new FormData(event.target));
    busy($("button", event.target), async () => {
      try {
        await gql(`mutation($m: ID!, $u: String!, $p: String!, $r: StaffRole!) { createStaff(merchantId: $m, username: $u, password: $p, role: $r) { id } }`, { m, u: f.username.trim(), p: f.password, r: f.role });
        toast("员工已添加"); ctx.rerender();
      } catch (err) { $("#new-staff-error").textContent = describe(err); }
    });
  });
}

// =======================================================================================
// Settings

const ZONES = ["Asia/Shanghai", "Asia/Hong_Kong", "Asia/Macau", "Asia/Taipei", "Asia/Singapore", "Asia/Tokyo", "Asia/Seoul", "Asia/Bangkok", "Europe/London", "America/Los_Angeles", "America/New_York", "Etc/UTC"];

async function settings(view, ctx) {
  const m = session.merchantId;
  const d = (await gql(`query($m: ID!) { merchant(id: $m) { name timeZone wechatPay { connected mchid platformPublicKeyId } } }`, { m })).merchant;
  const zones = ZONES.includes(d.timeZone) ? ZONES : [d.timeZone, ...ZONES];
  view.innerHTML = `<div class="columns"><section class="card" id="settings"><h2>商户设置</h2><form id="merchant-form">
      <label class="field"><span>商户名称</span><input name="name" value="${esc(d.name)}" required maxlength="64"></label>
      <label class="field"><span>时区（经营概况的“每天”、导出和消息按它计算）</span><select name="timeZone" id="time-zone">${zones.map((z) => `<option ${z === d.timeZone ? "selected" : ""}>${esc(z)}</option>`).join("")}</select></label>
      <p class="error" id="settings-error"></p><div class="actions"><button>保存</button></div></form></section>
    <section class="card"><h2>微信支付</h2>${d.wechatPay.connected
      ? `<p class="ok">已接入，商户号 ${esc(d.wechatPay.mchid)}（公钥 ${esc(d.wechatPay.platformPublicKeyId)}）</p><p class="help">重新提交下面的表单可更换密钥。</p>`
      : `<p class="muted">尚未接入：接入后顾客可在小程序内付款，订单自动记录。</p>`}
      <form id="wechatpay-form" autocomplete="off">
        <label class="field"><span>商户号 mchid</span><input name="mchid" required inputmode="numeric"></label>
        <label class="field"><span>商户 API 证书序列号</span><input name="merchantSerialNo" required></label>
        <label class="field"><span>商户 API 私钥（apiclient_key.pem 全文）</span><textarea name="privateKeyPem" rows="4" required style="width:100%"></textarea></label>
        <label class="field"><span>APIv3 密钥</span><input name="apiV3Key" required type="password"></label>
        <label class="field"><span>微信支付公钥 ID（PUB_KEY_ID_…）</span><input name="platformPublicKeyId" required></label>
        <label class="field"><span>微信支付公钥（pub_key.pem 全文）</span><textarea name="platformPublicKeyPem" rows="4" required style="width:100%"></textarea></label>
        <p class="error" id="wechatpay-error"></p><div class="actions"><button>保存微信支付设置</button></div></form></section></div>`;
  $("#merchant-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const f = Object.fromEntries(new FormData(event.target));
    busy($("button", event.target), async () => {
      try {
        const r = (await gql(`mutation($m: ID!, $i: UpdateMerchantInput!) { updateMerchant(merchantId: $m, input: $i) { name timeZone } }`, { m, i: { name: f.name.trim(), timeZone: f.timeZone } })).updateMerchant;
        Object.assign(session, { merchantName: r.name, timeZone: r.timeZone });
        saveSession();
        setZone(r.timeZone);
        $("#who").textContent = `${session.merchantName} · ${session.username}（${ROLE[session.role]}）`;
        toast("已保存");
      } catch (err) { $("#settings-error").textContent = describe(err); }
    });
  });
  $("#wechatpay-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const f = Object.fromEntries(new FormData(event.target));
    busy($("button", event.target), async () => {
      try {
        await gql(`mutation($m: ID!, $i: WechatPayInput!) { configureWechatPay(merchantId: $m, input: $i) { connected } }`, { m, i: f });
        toast("微信支付已接入"); ctx.rerender();
      } catch (err) { $("#wechatpay-error").textContent = describe(err); }
    });
  });
}

export const PAGES = { dashboard, till, orders, members, queue, withdrawals, programs, stores, staff, settings };
