"""Customer portal views (filled in below the links contract)."""

from django.http import HttpResponse


def case_list(request):
    return HttpResponse("portal")


def sign_in(request):
    return HttpResponse("sign in")


def sign_out(request):
    return HttpResponse("sign out")


def follow(request, token):
    return HttpResponse("follow")


def case_detail(request, public_token):
    return HttpResponse("case")
