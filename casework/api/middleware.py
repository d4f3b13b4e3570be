"""Keep the API's error shape for responses produced outside the API's own handlers (unknown URL under
/api/v1/, wrong method): clients always get {"error": {"code", "message"}} JSON, never an HTML page."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse

_CODES = {404: ("not_found", "No such API endpoint"), 405: ("method_not_allowed", "Method not allowed here")}


class ApiErrorShapeMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not request.path.startswith("/api/") or response.status_code not in _CODES:
            return response
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        code, message = _CODES[response.status_code]
        if response.status_code == 405 and response.has_header("Allow"):
            message = f"{message}; allowed: {response['Allow']}"
        replacement = JsonResponse({"error": {"code": code, "message": message}}, status=response.status_code)
        if response.has_header("Allow"):
            replacement["Allow"] = response["Allow"]
        return replacement
