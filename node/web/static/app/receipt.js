// The receipt: made in this page from what the node just answered, downloaded as a text file
// (a blob: URL, revoked after use) or printed. Nothing of it is stored anywhere.
import { formatDate, t } from "./page.js";

export function receiptText({ caseNumber, pin, helpline, url }) {
  const body = t("receipt.file_body", {
    case: caseNumber,
    pin,
    date: formatDate(Date.now()),
    helpline,
    url,
  });
  return `${t("receipt.file_title")}\n\n${body}\n`;
}

export function download(text, filename) {
  const url = URL.createObjectURL(new Blob([text], { type: "text/plain;charset=utf-8" }));
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
