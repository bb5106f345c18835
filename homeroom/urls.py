from django.contrib import admin
from django.urls import include, path, re_path

from homeroom.families import views as family_views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("family/", include("homeroom.families.urls")),
    path("notify/", include("homeroom.notify.urls")),
    # Invitation links: short, as text messages carry them. Tokens are 22 URL-safe characters.
    re_path(
        r"^i/(?P<token>[A-Za-z0-9_-]{16,64})$", family_views.invitation_link, name="invitation_link"
    ),
]
