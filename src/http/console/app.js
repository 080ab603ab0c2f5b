// The console's entry: who is logged in, which pages their role may open, and routing.
// Merchant pages live in merchant.js, the shopper's page in shopper.js.
import {
  $, esc, gql, describe, session, saveSession, clearSession, whenSignedOut, closeLive, resetLive,
  subscribe, onReconnect, setZone, ROLE, busy, nextGeneration,
} from "./lib.js";
import { PAGES } from "./merchant.js";
import { shopperPage } from "./shopper.js";

/** The merchant pages, in menu order, and the roles that may open each. */
const MENU = [
  { page: "dashboard", label: "经营概况", roles: ["OWNER", "MANAGER"] },
  { page: "till", label: "收银台", roles: ["OWNER", "MANAGER", "CASHIER"] },
  { page: "orders", label: "订单", roles: ["OWNER", "MANAGER", "CASHIER"] },
  { page: "members", label: "会员", roles: ["OWNER", "MANAGER", "CASHIER"] },
  { page: "queue", label: "排队免单", roles: ["OWNER", "MANAGER"] },
  { page: "withdrawals", label: "提现审核", roles: ["OWNER", "MANAGER"] },
  { page: "programs", label: "活动设置", roles: ["OWNER", "MANAGER"] },
  { page: "stores", label: "门店与二维码", roles: ["OWNER", "MANAGER"] },
  { page: "staff", label: "员工", roles: ["OWNER"] },
  { page: "settings", label: "商户设置", roles: ["OWNER"] },
];

export const menuFor = (role) => MENU.filter((m) => m.roles.includes(role));

const live = [];
let generation = 0;

/** What a page gets: its subscriptions end when another page opens. */
function pageContext(gen) {
  return {
    current: () => gen === generation,
    subscribe(query, variables, onData, onError) {
      const stop = subscribe(query, variables, (data) => { if (gen === generation) onData(data); }, (err) => {
        if (gen === generation && onError) onError(err);
      });
      live.push(stop);
      return stop;
    },
    onReconnect(f) { onReconnect(() => { if (gen === generation) f(); }); },
    rerender: () => route(),
  };
}

function isShopperPath() {
  return location.pathname.startsWith("/console/join");
}

async function route() {
  generation += 1;
  nextGeneration();
  const gen = generation;
  resetLive(live);
  const nav = $("#nav");
  // Each page draws into a container of its own: a page left while it was still loading
  // finishes into a container no longer shown, never over its successor.
  const root = $("#view");
  const view = document.createElement("div");
  root.replaceChildren(view);
  root.dataset.loading = "1";
  try {
    await show(view, nav, gen);
  } finally {
    if (gen === generation) delete root.dataset.loading;
  }
}

async function show(view, nav, gen) {
  $("#logout").hidden = !session.token;
  try {
    if (isShopperPath()) {
      document.title = "分红 · 我的会员";
      nav.innerHTML = "";
      $("#who").textContent = session.kind === "shopper" && session.nickname ? session.nickname : "";
      return await shopperPage(view, pageContext(gen));
    }
    if (session.kind === "admin") {
      nav.innerHTML = "";
      $("#who").textContent = "平台管理员";
      return await adminPage(view);
    }
    if (session.kind !== "staff") {
      nav.innerHTML = "";
      $("#who").textContent = "";
      return loginPage(view);
    }
    setZone(session.timeZone);
    const allowed = menuFor(session.role);
    let page = (location.hash || "").slice(1);
    if (!allowed.some((m) => m.page === page)) {
      page = allowed[0].page;
      history.replaceState(null, "", "#" + page);
    }
    nav.innerHTML = allowed.map((m) => `<a href="#${m.page}" data-page="${m.page}" class="${m.page === page ? "active" : ""}">${esc(m.label)}</a>`).join("");
    $("#who").textContent = `${session.merchantName} · ${session.username}（${ROLE[session.role] || session.role}）`;
    document.title = `分红 · ${allowed.find((m) => m.page === page).label}`;
    view.innerHTML = `<p class="empty">正在加载…</p>`;
    await PAGES[page](view, { ...pageContext(gen), session, role: session.role });
  } catch (err) {
    if (gen !== generation) return;
    view.innerHTML = `<section class="card"><p class="error" id="page-error">${esc(describe(err))}</p>
      <div class="actions"><button class="secondary" id="retry">重试</button></div></section>`;
    $("#retry").onclick = () => route();
  }
}

function loginPage(view) {
  view.innerHTML = `<section class="card" style="max-width:420px;margin:2rem auto"><h2>商户登录</h2>
    <form id="login" autocomplete="on">
      <label class="field"><span>用户名</span><input name="username" required autocomplete="username" autocapitalize="off"></label>
      <label class="field"><span>密码</span><input name="password" type="password" required autocomplete="current-password"></label>
      <p class="error" id="login-error"></p>
      <div class="actions"><button id="login-button">登录</button></div>
    </form>
    <p class="muted">顾客请用微信扫描门店二维码进入。</p></section>`;
  $("#login").addEventListener("submit", (event) => {
    event.preventDefault();
    const f = Object.fromEntries(new FormData(event.target));
    busy($("#login-button"), async () => {
      $("#login-error").textContent = "";
      try {
        const d = (await gql(`mutation($u: String!, $p: String!) { staffLogin(username: $u, password: $p) {
          token staff { username role merchant { id name timeZone } } } }`, { u: f.username.trim(), p: f.password })).staffLogin;
        clearSession(["tillStore"]);
        if (!d.staff) {
          Object.assign(session, { token: d.token, kind: "admin", username: f.username.trim() });
        } else {
          Object.assign(session, {
            token: d.token, kind: "staff", role: d.staff.role, username: d.staff.username,
            merchantId: d.staff.merchant.id, merchantName: d.staff.merchant.name, timeZone: d.staff.merchant.timeZone,
          });
        }
        saveSession();
        location.hash = "";
        route();
      } catch (err) {
        $("#login-error").textContent = err.code === "UNAUTHENTICATED" ? "用户名或密码错误" : describe(err);
      }
    }, "登录中…");
  });
}

/** The platform administrator: opens merchants (with their owner's account). */
async function adminPage(view) {
  view.innerHTML = `<section class="card" style="max-width:520px"><h2>开通商户</h2>
    <form id="create-merchant">
      <label class="field"><span>商户名称</span><input name="name" required maxlength="64"></label>
      <label class="field"><span>店主用户名</span><input name="ownerUsername" required autocapitalize="off"></label>
      <label class="field"><span>店主初始密码（至少 8 位）</span><input name="ownerPassword" required minlength="8" type="password" autocomplete="new-password"></label>
      <label class="field"><span>时区</span><input name="timeZone" value="Asia/Shanghai"></label>
      <p class="error"></p><div class="actions"><button>开通</button></div></form><div id="created"></div></section>`;
  $("#create-merchant").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.target, f = Object.fromEntries(new FormData(form));
    busy($("button", form), async () => {
      $(".error", form).textContent = "";
      try {
        const m = (await gql(`mutation($i: CreateMerchantInput!) { createMerchant(input: $i) { id name } }`, { i: { ...f, name: f.name.trim(), ownerUsername: f.ownerUsername.trim() } })).createMerchant;
        $("#created").innerHTML = `<p class="ok">已开通「${esc(m.name)}」（编号 ${esc(m.id)}），店主可用 ${esc(f.ownerUsername)} 登录。</p>`;
        form.reset();
      } catch (err) { $(".error", form).textContent = describe(err); }
    });
  });
}

function logout() {
  closeLive();
  clearSession(["tillStore"]);
  location.href = isShopperPath() ? location.pathname + location.search : "/console/";
}

whenSignedOut(() => {
  closeLive();
  const shopper = session.kind === "shopper";
  clearSession(["tillStore", "shopperMerchantId"]);
  if (!shopper) { location.hash = ""; }
  route();
});

$("#logout").onclick = logout;
window.addEventListener("hashchange", route);
route();
