// Progressive enhancement only: every page works without this. Loaded as a module from the
// service itself (the Content-Security-Policy allows no inline script), it marks the body as
// GOV.UK Frontend expects and starts the Design System's components.
import { initAll } from '/static/govuk/govuk-frontend.min.js'

document.body.classList.add('js-enabled', 'govuk-frontend-supported')
initAll()
