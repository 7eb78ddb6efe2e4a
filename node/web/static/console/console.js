// What every console page does once loaded: show times as dates in the viewer's language and
// time zone (the server writes them in UTC), sizes in the viewer's number format, fill the
// search form's time-zone field, and make print buttons print. No inline script anywhere.

const lang = document.documentElement.lang || undefined;

function showTimes() {
  const full = new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short" });
  const day = new Intl.DateTimeFormat(lang, { dateStyle: "medium" });
  const exact = new Intl.DateTimeFormat(lang, { dateStyle: "full", timeStyle: "long" });
  for (const element of document.querySelectorAll("time[data-ms]")) {
    const date = new Date(Number(element.dataset.ms));
    element.textContent = (element.dataset.style === "date" ? day : full).format(date);
    element.title = exact.format(date);
  }
}

function showSizes() {
  for (const element of document.querySelectorAll("data.bytes")) {
    const bytes = Number(element.value);
    const gigabytes = bytes >= 1e9;
    element.textContent = new Intl.NumberFormat(lang, {
      style: "unit",
      unit: gigabytes ? "gigabyte" : "megabyte",
      maximumFractionDigits: gigabytes ? 2 : 1,
    }).format(gigabytes ? bytes / 1e9 : bytes / 1e6);
  }
}

function setTimeZone() {
  // Minutes east of UTC, so "opened from" dates mean the viewer's own days.
  const offset = String(-new Date().getTimezoneOffset());
  for (const field of document.querySelectorAll("input[data-timezone]")) field.value = offset;
}

function setUpPrinting() {
  for (const button of document.querySelectorAll("[data-print]")) {
    button.addEventListener("click", () => window.print());
  }
}

export function refreshPage() {
  showTimes();
  showSizes();
}

showTimes();
showSizes();
setTimeZone();
setUpPrinting();
