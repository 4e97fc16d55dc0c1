const escapeHtml = (value: string): string =>
  value.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );

/** The claim link in the owner's mail lands here; the form posts to /v1/auth/claim/verify. */
export function claimPage(orgId: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Claim your LoftBox agent account</title>
<style>body{font:16px system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}label{display:block;margin:1rem 0 .25rem}input{font:inherit;padding:.4rem;width:100%;box-sizing:border-box}button{margin-top:1rem;font:inherit;padding:.5rem 1rem}</style>
</head><body>
<h1>Claim your agent account</h1>
<p>Enter the 6-digit code from the email. Claiming lifts the agent's restricted mode.</p>
<form id="claim">
<label for="org_id">Organization id</label><input id="org_id" name="org_id" required value="${escapeHtml(orgId)}">
<label for="code">Claim code</label><input id="code" name="code" required inputmode="numeric" pattern="[0-9]{6}" autocomplete="one-time-code">
<button type="submit">Claim</button>
</form>
<p id="result" role="status"></p>
<script>
document.getElementById('claim').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const response = await fetch('/v1/auth/claim/verify', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ org_id: form.get('org_id'), code: form.get('code') }),
  });
  const body = await response.json();
  document.getElementById('result').textContent = response.ok
    ? 'Claimed. The agent can now mail anyone.'
    : (body.error && body.error.message) || 'Claim failed.';
});
</script>
</body></html>
`;
}
