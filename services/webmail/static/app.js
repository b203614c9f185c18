// New-mail notifications over SSE (R14) and a few keyboard helpers; the pages work without this script.
"use strict";
(function () {
  const main = document.getElementById("main");
  const notice = document.getElementById("notice");
  const allow = document.getElementById("notify-allow");
  if (allow && "Notification" in window && Notification.permission === "default") {
    allow.hidden = false;
    allow.addEventListener("click", function () {
      Notification.requestPermission().then(function () { allow.hidden = true; });
    });
  }
  if (!main || !main.dataset.stream || !window.EventSource) return;
  const label = main.dataset.newMail || "New mail";
  const stream = new EventSource(main.dataset.stream);
  stream.addEventListener("ready", function () { document.body.dataset.stream = "open"; });
  stream.addEventListener("mail", function (event) {
    const mail = JSON.parse(event.data);
    notice.textContent = "";
    const link = document.createElement("a");
    link.href = "/mail/" + encodeURIComponent(mail.mailbox).replace("%40", "@") + "/INBOX";
    link.textContent = label + ": " + (mail.mail_from || mail.mailbox);
    link.id = "new-mail";
    notice.appendChild(link);
    notice.hidden = false;
    if ("Notification" in window && Notification.permission === "granted") {
      new Notification(label, { body: mail.mail_from || mail.mailbox });
    }
  });
})();
