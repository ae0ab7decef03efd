// @ts-check
// The preview origin's link page (projects/preview/proxy.py serves this file there): the
// dashboard put the link's token in the URL fragment, which browsers never send, so no
// request line, access log or Referer holds it. This posts it to the same origin, which
// answers with the preview's cookie and a redirect to the app.
(function () {
  "use strict";
  var token = decodeURIComponent(window.location.hash.slice(1));
  window.history.replaceState(null, "", window.location.pathname);
  if (!token) {
    document.getElementById("message").textContent =
      "This preview link is incomplete: open the preview again from the project's page.";
    return;
  }
  var form = document.createElement("form");
  form.method = "post";
  form.action = window.location.pathname;
  var field = document.createElement("input");
  field.type = "hidden";
  field.name = "token";
  field.value = token;
  form.appendChild(field);
  document.body.appendChild(form);
  form.submit();
})();
