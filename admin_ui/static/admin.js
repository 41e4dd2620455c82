// xRM admin: the little the pages do beyond htmx, for every page (loaded by base.html).
//
// Lookups' lists (search-as-you-type, records/_lookup.html and _related.html): htmx
// fills the list; here arrows move, Enter or a click chooses, Escape closes. Events
// are delegated from the document, so lists htmx swaps in later work too.
(() => {
  const boxOf = el => el.closest("[data-lookup]");
  const options = box => [...box.querySelectorAll("[role=option]")];
  const listOf = box => box.querySelector("[role=listbox]");
  const inputOf = box => box.querySelector("[role=combobox]");
  function setOpen(box, open) {
    inputOf(box).setAttribute("aria-expanded", open ? "true" : "false");
    listOf(box).hidden = !open;
  }
  function mark(box, n) {
    const input = inputOf(box);
    options(box).forEach((o, i) => {
      o.id = input.id + "-option-" + i;
      o.setAttribute("aria-selected", i === n ? "true" : "false");
      if (i === n) o.scrollIntoView({block: "nearest"});
    });
    const active = options(box)[n];
    box.dataset.active = active ? active.dataset.id : "";
    if (active) input.setAttribute("aria-activedescendant", active.id);
    else input.removeAttribute("aria-activedescendant");
  }
  function choose(box, option) {
    box.querySelector("[data-lookup-id]").value = option.dataset.id;
    inputOf(box).value = option.dataset.label;
    mark(box, -1);
    setOpen(box, false);
    inputOf(box).focus();
  }
  document.addEventListener("htmx:afterSwap", e => {
    const box = boxOf(e.target);
    if (box && e.target === listOf(box)) {
      setOpen(box, listOf(box).children.length > 0 && document.activeElement === inputOf(box));
      // A newer answer keeps the option the person had moved to, when it still offers it.
      mark(box, options(box).findIndex(o => o.dataset.id === box.dataset.active));
    }
  });
  document.addEventListener("input", e => {
    const box = boxOf(e.target);
    if (box && e.target === inputOf(box)) box.querySelector("[data-lookup-id]").value = "";
  });
  document.addEventListener("change", e => {
    const box = boxOf(e.target);
    if (box && e.target.matches("[data-lookup-entity]")) {
      box.querySelector("[data-lookup-id]").value = "";
      inputOf(box).value = "";
    }
  });
  document.addEventListener("click", e => {
    const option = e.target.closest("[data-lookup] [role=option]");
    if (option) choose(boxOf(option), option);
  });
  document.addEventListener("mousedown", e => {
    // The search box keeps the focus while an option is clicked.
    if (e.target.closest("[data-lookup] [role=option]")) e.preventDefault();
  });
  document.addEventListener("focusout", e => {
    const box = boxOf(e.target);
    if (box && e.target === inputOf(box) && !box.contains(e.relatedTarget)) setOpen(box, false);
  });
  document.addEventListener("keydown", e => {
    const box = boxOf(e.target);
    if (!box || e.target !== inputOf(box)) return;
    const all = options(box);
    const now = all.findIndex(o => o.getAttribute("aria-selected") === "true");
    if (e.key === "ArrowDown" && all.length) {
      e.preventDefault(); setOpen(box, true); mark(box, Math.min(now + 1, all.length - 1));
    } else if (e.key === "ArrowUp" && all.length) {
      e.preventDefault(); mark(box, Math.max(now - 1, 0));
    } else if (e.key === "Enter" && now >= 0 && !listOf(box).hidden) {
      e.preventDefault(); choose(box, all[now]);
    } else if (e.key === "Escape") {
      setOpen(box, false); mark(box, -1);
    }
  });
})();
