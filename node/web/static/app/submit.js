// The submit page: choose and hash files here, send only their hashes, show the case number
// and PIN once, with a receipt made in the page.
import { Chooser } from "./chooser.js";
import { focusHeading, post, say, setUpQuickExit, t } from "./page.js";
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
  const answer = await post("/v1/self/cases", { files });
  send.textContent = t("submit.send");
  if (!answer.ok) {
    send.disabled = false;
    return say(error, answer.message);
  }
  chooser.clear();
  return showReceipt(answer.data);
});

function showReceipt({ case: caseNumber, pin, files, items }) {
  document.getElementById("choose-step").hidden = true;
  document.getElementById("receipt-step").hidden = false;
  document.getElementById("receipt-case").textContent = caseNumber;
  document.getElementById("receipt-pin").textContent = pin;
  document.getElementById("receipt-sent").textContent = t("receipt.sent", { files, items });
  const helpline = document.querySelector(".helpline-name").textContent;
  const url = new URL(document.getElementById("to-case").getAttribute("href"), location.href).href;
  const text = receiptText({ caseNumber, pin, helpline, url });
  document.getElementById("download").addEventListener("click", () => {
    download(text, `receipt-${caseNumber}.txt`);
  });
  document.getElementById("print").addEventListener("click", () => window.print());
  focusHeading(document.getElementById("receipt-title"));
}
