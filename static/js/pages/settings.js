// @ts-check
// The settings page: the model field suggests the chosen provider's models; "Edit" fills the
// provider form.

document.addEventListener("DOMContentLoaded", function () {
  var provider = /** @type {HTMLInputElement | null} */ (document.getElementById("id_default_provider"));
  var models = /** @type {HTMLElement} */ (document.getElementById("model-names"));
  function suggest() {
    var template = /** @type {HTMLTemplateElement | null} */ (document.querySelector(
      "template[data-models-for='" + ((provider && provider.value) || "").replace(/'/g, "") + "']"));
    models.replaceChildren(template ? template.content.cloneNode(true) : "");
  }
  if (provider) { provider.addEventListener("input", suggest); suggest(); }
  document.querySelectorAll("[data-edit-provider]").forEach(function (node) {
    var button = /** @type {HTMLElement} */ (node);
    button.addEventListener("click", function () {
      var form = /** @type {HTMLFormElement} */ (document.getElementById("custom-provider-form"));
      /** @param {string} name @returns {HTMLInputElement} */
      var field = function (name) { return /** @type {HTMLInputElement} */ (form.querySelector("[name=" + name + "]")); };
      field("name").value = button.dataset.name || "";
      field("api").value = button.dataset.api || "";
      field("base_url").value = button.dataset.baseUrl || "";
      field("model_ids").value = button.dataset.models || "";
      field("price_input").value = button.dataset.priceInput || "";
      field("price_output").value = button.dataset.priceOutput || "";
      field("price_cache_read").value = button.dataset.priceCacheRead || "";
      field("price_cache_write").value = button.dataset.priceCacheWrite || "";
      var title = document.getElementById("custom-provider-form-title");
      if (title) { title.textContent = "Edit " + button.dataset.name; }
      form.scrollIntoView({ block: "start" });
      field("base_url").focus();
    });
  });
});
