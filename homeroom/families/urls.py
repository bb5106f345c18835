"""The family portal, mounted at /family/. Invitation links themselves are /i/<token>
(homeroom/urls.py): a text message's link has to be short."""

from django.urls import path

from homeroom.families import views

app_name = "families"

urlpatterns = [
    path("", views.home, name="home"),
    path("children/<int:student_id>/", views.child, name="child"),
    path("invitation/", views.invitation, name="invitation"),
    path(
        "invitation/children/<int:connection_id>/confirm/",
        views.connection_confirm,
        name="connection_confirm",
    ),
    path(
        "invitation/children/<int:connection_id>/decline/",
        views.connection_decline,
        name="connection_decline",
    ),
    path("pending/<int:connection_id>/confirm/", views.pending_confirm, name="pending_confirm"),
    path("pending/<int:connection_id>/decline/", views.pending_decline, name="pending_decline"),
    path("account/", views.account, name="account"),
    path("account/phone/", views.phone, name="phone"),
    path("account/phone/verify/", views.phone_verify, name="phone_verify"),
]
