from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("directory", "0004_wire_hash"),
    ]

    operations = [
        migrations.AddField(
            model_name="district",
            name="events_cursor",
            field=models.CharField(blank=True, max_length=64, null=True),
        ),
        migrations.AddField(
            model_name="district",
            name="events_cursor_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
