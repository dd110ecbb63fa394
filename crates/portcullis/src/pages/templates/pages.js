// Progressive enhancement only: every page works without this script.
document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("button[data-reveal]")) {
    const input = document.getElementById(button.dataset.reveal);
    if (!input) continue;
    button.hidden = false;
    button.setAttribute("aria-controls", input.id);
    button.setAttribute("aria-pressed", "false");
    button.addEventListener("click", () => {
      const shown = input.type === "password";
      input.type = shown ? "text" : "password";
      button.textContent = shown ? button.dataset.hide : button.dataset.show;
      button.setAttribute("aria-pressed", String(shown));
    });
  }
  for (const button of document.querySelectorAll("button[data-copy]")) {
    const source = document.getElementById(button.dataset.copy);
    if (!source || !navigator.clipboard) continue;
    button.hidden = false;
    button.addEventListener("click", async () => {
      const codes = [...source.querySelectorAll("code")].map((c) => c.textContent).join("\n");
      await navigator.clipboard.writeText(codes);
      button.textContent = button.dataset.copied;
    });
  }
  // The password policy's verdict while a new password is typed (sign-up): the server's own
  // check, so the reasons are the ones a submit would give. Without this, they come on submit.
  for (const verdict of document.querySelectorAll("[data-password-check]")) {
    const input = document.getElementById(verdict.dataset.for);
    const form = input && input.form;
    if (!form) continue;
    const described = input.getAttribute("aria-describedby") || "";
    input.setAttribute("aria-describedby", `${described} ${verdict.id}`.trim());
    let timer;
    let asked = 0;
    const check = async () => {
      const mine = ++asked;
      if (!input.value) {
        verdict.textContent = "";
        return;
      }
      const body = new URLSearchParams();
      for (const name of ["csrf", "name", "email"]) body.set(name, form.elements[name]?.value ?? "");
      body.set("password", input.value);
      try {
        const response = await fetch(verdict.dataset.passwordCheck, { method: "POST", body });
        if (!response.ok || mine !== asked) return;
        const answer = await response.json();
        verdict.textContent = answer.ok ? verdict.dataset.ok : answer.message;
        verdict.classList.toggle("error", !answer.ok);
        verdict.dataset.verdict = answer.ok ? "ok" : answer.code;
      } catch {
        // Offline or refused: the form still checks on submit.
      }
    };
    input.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(check, 300);
    });
  }
  const alert = document.querySelector("[aria-invalid=true]");
  if (alert) alert.focus();
});
