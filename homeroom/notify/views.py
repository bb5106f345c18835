"""Provider callbacks: what became of a message after it left."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from homeroom.notify.services import delivery_bounced
from homeroom.notify.sms.twilio import twilio_signature_valid

# Twilio's words for a text that will not arrive.
TWILIO_UNDELIVERED = {"undelivered", "failed"}


@csrf_exempt  # Twilio cannot send a CSRF token; its signature is checked instead
@require_POST
def twilio_status(request: HttpRequest) -> HttpResponse:
    """Twilio's status callback. The signature covers the URL Homeroom gave Twilio."""
    url = f"{settings.HOMEROOM_BASE_URL}{request.path}"
    params = {key: request.POST[key] for key in request.POST}
    signature = request.headers.get("X-Twilio-Signature", "")
    if not twilio_signature_valid(url=url, params=params, signature=signature):
        return HttpResponse(status=403)
    if params.get("MessageStatus") in TWILIO_UNDELIVERED:
        code = params.get("ErrorCode", "")
        reason = f"Twilio: {params['MessageStatus']}" + (f" (error {code})" if code else "")
        delivery_bounced(provider="twilio", provider_id=params.get("MessageSid", ""), reason=reason)
    return HttpResponse(status=204)
