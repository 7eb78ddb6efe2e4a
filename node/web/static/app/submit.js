// The submit page: choose and hash files here, send only their hashes, show the case number
// and PIN once, with a receipt made in the page.
import { Chooser } from "./chooser.js";
import { batches, focusHeading, post, say, setUpQuickExit, t } from "./page.js";
import { download, receiptText } from "./receipt.js";

setUpQuickExit();

const send = document.getElementById("send");
const error = document.getElementById("send-error");
const chooser = new Chooser("new", (self) => {
  send.disabled = self.busy || self.submission().length === 0;
});

document.getElementById("clear").addEventListener("click", () => {
  chooser.clear();
  say(error, "");
});

send.addEventListener("click", async () => {
  const files = chooser.submission();
  if (!files.length) return say(error, t("submit.nothing_to_send"));
  send.disabled = true;
  send.textContent = t("submit.sending");
  const [first, ...rest] = batches(files);
  const answer = await post("/v1/self/cases", { files: first });
  if (!answer.ok) {
    send.textContent = t("submit.send");
    send.disabled = false;
    return say(error, answer.message);
  }
  // More files than one request takes: the others join the case just opened.
  const sent = { files: answer.data.files, items: answer.data.items };
  const credentials = { case: answer.data.case, pin: answer.data.pin };
  for (const batch of rest) {
    const more = await post("/v1/self/items", { ...credentials, files: batch });
    if (!more.ok) break; // the case exists: show its receipt, and what was not sent
    sent.files += more.data.files;
    sent.items += more.data.items;
  }
  send.textContent = t("submit.send");
  chooser.clear();
  return showReceipt({ ...answer.data, ...sent, unsent: files.length - sent.files });
});

function showReceipt({ case: caseNumber, pin, files, items, unsent }) {
  document.getElementById("choose-step").hidden = true;
  document.getElementById("receipt-step").hidden = false;
  document.getElementById("receipt-case").textContent = caseNumber;
  document.getElementById("receipt-pin").textContent = pin;
  document.getElementById("receipt-sent").textContent = t("receipt.sent", { files, items });
  say(document.getElementById("receipt-unsent"), unsent ? t("receipt.unsent", { count: unsent }) : "");
  const helpline = document.querySelector(".helpline-name").textContent;
  const url = new URL(document.getElementById("to-case").getAttribute("href"), location.href).href;
  const text = receiptText({ caseNumber, pin, helpline, url });
  document.getElementById("download").addEventListener("click", () => {
    download(text, `receipt-${caseNumber}.txt`);
  });
  document.getElementById("print").addEventListener("click", () => window.print());
  focusHeading(document.getElementById("receipt-title"));
}
