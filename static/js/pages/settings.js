// The settings page: the model field suggests the chosen provider's models; "Edit" fills the
// provider form.

document.addEventListener("DOMContentLoaded", function () {
  var provider = document.getElementById("id_default_provider");
  var models = document.getElementById("model-names");
  function suggest() {
    var template = document.querySelector("template[data-models-for='" + (provider.value || "").replace(/'/g, "") + "']");
    models.replaceChildren(template ? template.content.cloneNode(true) : "");
  }
  if (provider) { provider.addEventListener("input", suggest); suggest(); }
  document.querySelectorAll("[data-edit-provider]").forEach(function (button) {
    button.addEventListener("click", function () {
      var form = document.getElementById("custom-provider-form");
      form.querySelector("[name=name]").value = button.dataset.name;
      form.querySelector("[name=api]").value = button.dataset.api;
      form.querySelector("[name=base_url]").value = button.dataset.baseUrl;
      form.querySelector("[name=model_ids]").value = button.dataset.models;
      document.getElementById("custom-provider-form-title").textContent = "Edit " + button.dataset.name;
      form.scrollIntoView({ block: "start" });
      form.querySelector("[name=base_url]").focus();
    });
  });
});
