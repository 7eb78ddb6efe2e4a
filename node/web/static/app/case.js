// The case page: open a case with its number and PIN (kept in this page's memory only, sent
// with each request), see each file and what platforms reported, withdraw, add more.
import { Chooser } from "./chooser.js";
import { batches, focusHeading, formatDate, post, say, setUpQuickExit, t } from "./page.js";

setUpQuickExit();

const $ = (id) => document.getElementById(id);
let credentials = null;
let shown = null; // the last status the node answered
let pendingWithdrawal = null;

$("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  const asked = { case: $("case-number").value.trim(), pin: $("case-pin").value.trim() };
  if (!asked.case || !asked.pin) return say($("login-error"), t("error.case_access"));
  $("open").disabled = true;
  $("open").textContent = t("case.opening");
  const answer = await post("/v1/self/status", asked);
  $("open").disabled = false;
  $("open").textContent = t("case.open");
  if (!answer.ok) {
    say($("login-error"), answer.message);
    return $("case-pin").focus();
  }
  credentials = { case: answer.data.case, pin: asked.pin };
  $("case-pin").value = "";
  say($("login-error"), "");
  $("login-step").hidden = true;
  $("case-step").hidden = false;
  show(answer.data);
  return focusHeading($("case-title"));
});

async function refresh() {
  const answer = await post("/v1/self/status", credentials);
  if (answer.ok) show(answer.data);
  return answer;
}

function show(status) {
  shown = status;
  $("case-summary").textContent = t("case.summary", {
    case: status.case,
    date: formatDate(status.opened_ms),
  });
  const total = status.files.length;
  const withdrawn = status.files.filter((f) => f.state === "withdrawn").length;
  const active = status.files.filter((f) => f.state !== "withdrawn").length;
  $("case-counts").textContent = t("case.counts", { total, active, withdrawn });
  $("case-files").replaceChildren(...status.files.map(fileItem));
}

function fileItem(file) {
  const item = document.createElement("li");
  item.className = `case-file ${file.state}`;
  const head = document.createElement("p");
  head.className = "check";
  const box = document.createElement("input");
  box.type = "checkbox";
  box.id = `select-${file.file}`;
  box.value = String(file.file);
  box.disabled = file.state === "withdrawn";
  const label = document.createElement("label");
  label.htmlFor = box.id;
  const kind = t(file.kind === "image" ? "case.kind_image" : "case.kind_file");
  label.textContent = `${t("case.file", { number: file.file })} · ${kind}`;
  head.append(box, label);
  const facts = document.createElement("p");
  facts.className = "facts";
  facts.textContent = `${t("case.published", { date: formatDate(file.published_ms) })} · ${t(`case.state_${file.state}`)}`;
  item.append(head, facts, reports(file));
  return item;
}

function reports(file) {
  const box = document.createElement("div");
  box.className = "reports";
  if (!file.reports.length) {
    const none = document.createElement("p");
    none.textContent = t("case.no_reports");
    box.append(none);
    return box;
  }
  const title = document.createElement("p");
  title.textContent = t("case.reports");
  const list = document.createElement("ul");
  for (const report of file.reports) {
    const line = document.createElement("li");
    const key = report.verdict === "true_positive"
      ? `report.true_positive.${report.note}`
      : `report.${report.verdict}`;
    line.textContent = t(key, { platform: report.platform, date: formatDate(report.reported_ms) });
    list.append(line);
  }
  box.append(title, list);
  return box;
}

function chosenFiles(all) {
  const active = shown.files.filter((f) => f.state !== "withdrawn");
  if (all) return active;
  const picked = new Set(
    [...document.querySelectorAll("#case-files input:checked")].map((box) => Number(box.value)),
  );
  return active.filter((f) => picked.has(f.file));
}

function askWithdraw(all) {
  say($("withdraw-done"), "");
  const files = chosenFiles(all);
  if (!files.length) return say($("withdraw-error"), t("case.withdraw_none"));
  say($("withdraw-error"), "");
  pendingWithdrawal = { all, files };
  $("confirm-text").textContent = t("case.confirm_text", { count: files.length });
  $("confirm").hidden = false;
  return focusHeading($("confirm-title"));
}

$("withdraw-selected").addEventListener("click", () => askWithdraw(false));
$("withdraw-all").addEventListener("click", () => askWithdraw(true));
$("confirm-no").addEventListener("click", () => {
  $("confirm").hidden = true;
  pendingWithdrawal = null;
  $("withdraw-selected").focus();
});
$("confirm-yes").addEventListener("click", async () => {
  const { all, files } = pendingWithdrawal;
  $("confirm").hidden = true;
  const body = all
    ? { ...credentials, all: true }
    : { ...credentials, items: files.flatMap((f) => f.items.filter((i) => i.active).map((i) => i.id)) };
  const answer = await post("/v1/self/withdraw", body);
  if (!answer.ok) return say($("withdraw-error"), answer.message);
  await refresh();
  say($("withdraw-done"), t("case.withdrawn"));
  return $("withdraw-done").focus?.();
});

const addSend = $("add-send");
let adding = false;
const more = new Chooser("more", (self) => {
  addSend.disabled = adding || self.busy || self.submission().length === 0;
});
addSend.addEventListener("click", async () => {
  const files = more.submission();
  if (!files.length) return;
  adding = true;
  addSend.disabled = true;
  let added = 0;
  let failed = null;
  for (const batch of batches(files)) { // the node takes FILES_PER_REQUEST at a time
    const answer = await post("/v1/self/items", { ...credentials, files: batch });
    if (!answer.ok) {
      failed = answer;
      break;
    }
    added += answer.data.files;
    more.forget(batch); // sent: not to be sent again if a later batch fails
  }
  adding = false;
  say($("add-error"), failed ? failed.message : "");
  say($("add-done"), added ? t("submit.added", { files: added }) : "");
  if (failed) more.render(); // what is left may be sent again
  else more.clear();
  if (added) await refresh();
});

$("close-case").addEventListener("click", () => {
  credentials = null;
  shown = null;
  more.clear();
  $("case-files").replaceChildren();
  $("case-summary").textContent = "";
  $("case-counts").textContent = "";
  $("case-number").value = "";
  $("case-step").hidden = true;
  $("login-step").hidden = false;
  $("closed-note").hidden = false;
  focusHeading($("login-title"));
});
