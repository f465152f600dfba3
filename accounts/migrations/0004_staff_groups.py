"""The "Support" and "Privacy officer" groups with their staff permissions (accounts/permissions.py)."""

from django.db import migrations

GROUP_PERMISSIONS = {
    "Support": ["view_user_directory", "read_chat_statistics", "run_chat_sync"],
    "Privacy officer": [
        "read_patient_chats",
        "view_user_directory",
        "read_chat_statistics",
        "run_chat_cleanup",
        "manage_legal_hold",
    ],
}
NAMES = {
    "read_patient_chats": "Can read any patient's chat messages and sessions (staff API)",
    "view_user_directory": "Can list users with their contact details and chat counts",
    "read_chat_statistics": "Can read chat statistics over all users",
    "run_chat_cleanup": "Can run the chat retention cleanup",
    "run_chat_sync": "Can start and watch imports of the chat backup directory",
    "manage_legal_hold": "Can place and lift legal holds on chat sessions",
}


def create_groups(apps, schema_editor):
    # Permissions are normally created after the whole migrate run (post_migrate); the groups
    # need them now, so they are created here the same way (idempotent).
    db = schema_editor.connection.alias
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    user_type, _ = ContentType.objects.using(db).get_or_create(app_label="accounts", model="user")
    for group_name, codenames in GROUP_PERMISSIONS.items():
        group, _ = Group.objects.using(db).get_or_create(name=group_name)
        for codename in codenames:
            permission, _ = Permission.objects.using(db).get_or_create(
                content_type=user_type, codename=codename, defaults={"name": NAMES[codename]}
            )
            group.permissions.add(permission)


def remove_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.using(schema_editor.connection.alias).filter(name__in=list(GROUP_PERMISSIONS)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_staff_permissions"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
