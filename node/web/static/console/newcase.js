// A new case on a victim's behalf: the self-service file chooser and in-browser hasher, then
// one JSON post of the hashes only (no files, no names) with the session's CSRF token.
import { Chooser } from "../app/chooser.js";
import { t } from "../app/page.js";

const $ = (id) => document.getElementById(id);
const csrf = document.querySelector(".logout input[name=csrf_token]").value;
const send = $("send");
const error = $("send-error");
const chooser = new Chooser("new", (self) => {
  send.disabled = self.busy || self.submission().length === 0;
});

function say(element, text) {
  element.textContent = text || "";
  element.hidden = !text;
}

$("clear").addEventListener("click", () => {
  chooser.clear();
  say(error, "");
});

async function create(body) {
  try {
    const response = await fetch("/console/api/cases", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
    });
    const data = await response.json().catch(() => null);
    if (response.ok) return { ok: true, data };
    return { ok: false, message: data?.error?.message || t("console.error.generic") };
  } catch {
    return { ok: false, message: t("console.error.network") };
  }
}

send.addEventListener("click", async () => {
  const files = chooser.submission();
  if (!files.length) return say(error, t("console.new.nothing"));
  const reference = $("reference").value.trim();
  const body = { files, pin: $("with-pin").checked };
  if (reference) body.reference = reference;
  send.disabled = true;
  send.textContent = t("console.new.sending");
  const answer = await create(body);
  send.textContent = t("console.new.send");
  if (!answer.ok) {
    send.disabled = false;
    return say(error, answer.message);
  }
  chooser.clear();
  return done(answer.data);
});

function done({ case_id: caseId, case: caseNumber, pin, files, items }) {
  $("choose-step").hidden = true;
  $("done-step").hidden = false;
  $("done-text").textContent = t("console.new.done_text", { case: caseNumber, files, items });
  $("to-case").href = `/console/cases/${caseId}?done=created`;
  if (pin) {
    $("pin-receipt").hidden = false;
    $("receipt-case").textContent = caseNumber;
    $("receipt-pin").textContent = pin;
  }
  $("done-title").focus();
}
