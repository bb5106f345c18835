from django.urls import path

from homeroom.notify import views

app_name = "notify"
urlpatterns = [
    path("twilio/status", views.twilio_status, name="twilio-status"),
]
