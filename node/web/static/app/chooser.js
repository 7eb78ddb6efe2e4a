// Choosing files and hashing them in this browser: a file picker and a drop zone, previews
// made from local memory only (blob: URLs, revoked once drawn), per-file progress and a plain
// message for every file. `submission()` is all that is ever sent: hex hashes per file.

import { hashFiles } from "../hasher.js";
import { t } from "./page.js";

// Files that cannot be hashed are not sent at all. A picture this browser cannot decode
// (damaged, or HEIC where the browser has no decoder) is one: its file digests alone would
// find only byte-for-byte copies, which platforms rarely keep, and she would believe the
// picture covered; the message tells her how to get it hashed instead.
const NOT_SENT = new Set(["empty", "too_large", "unreadable", "cannot_decode"]);
let counter = 0;

// What a hasher result means for her, and what of it is sent.
function outcome(file, result) {
  if (NOT_SENT.has(result.reason) || !result.sha256) {
    return { hashes: null, message: t(`file.${result.reason ?? "unreadable"}`), ok: false };
  }
  const pdq = [];
  let message;
  if (result.pdq && !result.unreliable) pdq.push(result.pdq);
  if (result.upright_pdq && !result.upright_unreliable) pdq.push(result.upright_pdq);
  if (result.pdq && result.unreliable) {
    message = t("file.unreliable", { quality: result.quality });
  } else if (result.reason === "not_image" && file.type.startsWith("video/")) {
    message = t("file.video");
  } else if (result.reason) {
    message = t(`file.${result.reason}`);
  } else {
    message = t(pdq.length ? "file.ready_image" : "file.ready_file");
  }
  const hashes = { md5: result.md5, sha256: result.sha256, pdq: [...new Set(pdq)] };
  return { hashes, message, ok: true, partial: !pdq.length };
}

export class Chooser {
  /** `prefix` names the elements of chooser.html's macro; `onChange(chooser)` after each change. */
  constructor(prefix, onChange) {
    this.prefix = prefix;
    this.onChange = onChange;
    this.entries = [];
    this.pending = 0;
    this.input = this.element("files");
    this.list = this.element("list");
    this.input.addEventListener("change", () => {
      this.add(this.input.files);
      this.input.value = ""; // the same files may be chosen again after "start again"
    });
    this.element("previews").addEventListener("change", (event) => {
      this.list.classList.toggle("blurred", !event.target.checked);
    });
    this.setUpDrop();
    this.render();
  }

  element(name) {
    return document.getElementById(`${this.prefix}-${name}`);
  }

  setUpDrop() {
    const zone = this.element("drop");
    for (const name of ["dragenter", "dragover"]) {
      zone.addEventListener(name, (event) => {
        event.preventDefault();
        zone.classList.add("dragging");
      });
    }
    zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      zone.classList.remove("dragging");
      this.add(event.dataTransfer.files);
    });
    // A file dropped beside the zone must not make the browser open (and show) it.
    for (const name of ["dragover", "drop"]) {
      window.addEventListener(name, (event) => event.preventDefault());
    }
  }

  /** Add files and hash them (in the worker, one after another). */
  add(fileList) {
    const files = Array.from(fileList);
    if (!files.length) return;
    const added = files.map((file) => this.entry(file));
    this.entries.push(...added);
    this.pending += added.length;
    this.render();
    hashFiles(files, (progress) => this.progress(added[progress.index], progress))
      .then((results) => results.forEach((result, i) => this.finish(added[i], result)))
      .catch(() => added.forEach((entry) => this.fail(entry)));
  }

  entry(file) {
    counter += 1;
    const id = `${this.prefix}-file-${counter}`;
    const item = document.createElement("li");
    item.className = "file";
    const preview = document.createElement("div");
    preview.className = "preview";
    const name = document.createElement("span");
    name.className = "file-name";
    name.id = `${id}-name`;
    name.textContent = file.name;
    name.dir = "auto";
    const status = document.createElement("p");
    status.className = "file-status";
    status.textContent = t("file.waiting");
    const bar = document.createElement("progress");
    bar.max = 1;
    bar.value = 0;
    bar.setAttribute("aria-labelledby", name.id);
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "remove";
    remove.textContent = t("submit.remove");
    remove.setAttribute("aria-label", t("submit.remove_named", { name: file.name }));
    const entry = { file, item, status, bar, hashes: null, done: false, removed: false };
    remove.addEventListener("click", () => this.remove(entry));
    const text = document.createElement("div");
    text.className = "file-text";
    text.append(name, status, bar);
    item.append(preview, text, remove);
    this.preview(file, preview);
    return entry;
  }

  // A preview from local memory; the blob: URL is revoked as soon as it is drawn (or fails).
  preview(file, box) {
    const none = () => {
      box.replaceChildren();
      const label = document.createElement("span");
      label.textContent = t("file.preview_none");
      box.append(label);
    };
    if (!file.type.startsWith("image/")) return none();
    const url = URL.createObjectURL(file);
    const image = document.createElement("img");
    image.alt = "";
    image.decoding = "async";
    image.addEventListener("load", () => URL.revokeObjectURL(url), { once: true });
    image.addEventListener("error", () => { URL.revokeObjectURL(url); none(); }, { once: true });
    image.src = url;
    box.append(image);
    return undefined;
  }

  progress(entry, { phase, done, total }) {
    if (!entry || entry.removed) return;
    if (phase === "digest") {
      entry.status.textContent = t("file.reading");
      entry.bar.value = total ? (0.8 * done) / total : 0;
    } else if (phase === "decode") {
      entry.status.textContent = t("file.decoding");
      entry.bar.value = 0.9;
    }
  }

  finish(entry, result) {
    this.pending -= 1;
    entry.done = true;
    entry.bar.value = 1;
    entry.bar.hidden = true;
    if (entry.removed) return this.render();
    const found = outcome(entry.file, result);
    const twin = found.hashes && this.entries.find(
      (other) => other !== entry && !other.removed && other.hashes?.sha256 === found.hashes.sha256,
    );
    if (twin) {
      entry.status.textContent = t("file.duplicate");
    } else {
      entry.hashes = found.hashes;
      entry.status.textContent = found.message;
    }
    entry.item.classList.add(!found.ok || twin ? "skipped" : found.partial ? "partial" : "ready");
    return this.render();
  }

  fail(entry) {
    if (entry.done) return;
    this.pending -= 1;
    entry.done = true;
    entry.bar.hidden = true;
    entry.status.textContent = t("file.failed");
    entry.item.classList.add("skipped");
    this.render();
  }

  remove(entry) {
    entry.removed = true;
    entry.hashes = null;
    entry.item.remove();
    this.entries = this.entries.filter((other) => other !== entry);
    this.render();
    this.input.focus();
  }

  /** Drop the files whose hashes (as submission() gave them) were sent. */
  forget(sent) {
    const gone = new Set(sent);
    for (const entry of this.entries.filter((e) => gone.has(e.hashes))) {
      entry.removed = true;
      entry.item.remove();
    }
    this.entries = this.entries.filter((entry) => !entry.removed);
    this.render();
  }

  clear() {
    for (const entry of this.entries) {
      entry.removed = true;
      entry.item.remove();
    }
    this.entries = [];
    this.render();
  }

  get busy() {
    return this.pending > 0;
  }

  /** What is sent: per file {md5, sha256, pdq: [..]}; nothing else (no names, no pixels). */
  submission() {
    return this.entries.filter((entry) => entry.hashes).map((entry) => entry.hashes);
  }

  render() {
    for (const entry of this.entries) {
      if (!entry.item.isConnected) this.list.append(entry.item);
    }
    const total = this.entries.length;
    this.element("empty").hidden = total > 0;
    const ready = this.submission();
    const done = this.entries.filter((entry) => entry.done).length;
    this.element("summary").textContent = !total
      ? ""
      : this.busy
        ? t("submit.hashing_summary", { done, total })
        : t("submit.summary", { ready: ready.length, skipped: total - ready.length });
    const details = this.element("details");
    details.hidden = !ready.length;
    this.element("json").textContent = JSON.stringify({ files: ready }, null, 1);
    this.onChange?.(this);
  }
}
