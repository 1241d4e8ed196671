/** The page's HTML and its start script (a file, not inline: the page's CSP allows only 'self' scripts). */

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function pageHtml(base: string, title: string): string {
  const b = escapeHtml(base);
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<link rel="stylesheet" href="${b}/swagger-ui.css">
<link rel="icon" type="image/png" href="${b}/favicon-32x32.png" sizes="32x32">
<link rel="icon" type="image/png" href="${b}/favicon-16x16.png" sizes="16x16">
</head>
<body>
<div id="swagger-ui"></div>
<script src="${b}/swagger-ui-bundle.js"></script>
<script src="${b}/init.js"></script>
</body>
</html>
`;
}

/**
 * Loads the sanitized spec and renders it. The spec's host is replaced by the
 * page's own origin, so "Try it out" calls go through the gateway that serves
 * the page (the browser's Referer is this page: referrer-restricted keys work);
 * no validator badge, no URL bar, nothing fetched from anywhere else.
 */
export function initScript(base: string): string {
  return `'use strict';
(function () {
  var specUrl = ${JSON.stringify(`${base}/openapi.json`)};
  fetch(specUrl, { credentials: 'same-origin' })
    .then(function (r) { if (!r.ok) throw new Error('HTTP ' + r.status); return r.json(); })
    .then(function (spec) {
      spec.host = window.location.host;
      spec.schemes = [window.location.protocol.replace(':', '')];
      window.ui = SwaggerUIBundle({
        spec: spec,
        dom_id: '#swagger-ui',
        deepLinking: true,
        validatorUrl: null,
        tryItOutEnabled: false,
        presets: [SwaggerUIBundle.presets.apis],
        layout: 'BaseLayout'
      });
    })
    .catch(function (e) {
      document.getElementById('swagger-ui').textContent = 'The API description could not be loaded: ' + e.message;
    });
})();
`;
}
