"""The Privacy officer group also opens the admin pages its staff permissions are about: chat
sessions (the thread view, legal holds), chat messages and the audit log (accounts/permissions.py)."""

from django.db import migrations

# (app_label, model, verb, verbose name): Django's own default permissions of those models.
ADMIN_PAGES = {
    "Privacy officer": [
        ("chats", "chatsession", "view", "chat session"),
        ("chats", "chatsession", "change", "chat session"),
        ("chats", "chatmessage", "view", "chat message"),
        ("audit", "auditevent", "view", "audit event"),
    ],
}


def grant(apps, schema_editor):
    # Model permissions are created after the whole migrate run (post_migrate); the group needs
    # them now, so they are created here the way Django names them (idempotent).
    db = schema_editor.connection.alias
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    for group_name, pages in ADMIN_PAGES.items():
        group, _ = Group.objects.using(db).get_or_create(name=group_name)
        for app_label, model, verb, verbose_name in pages:
            content_type, _ = ContentType.objects.using(db).get_or_create(app_label=app_label, model=model)
            permission, _ = Permission.objects.using(db).get_or_create(
                content_type=content_type,
                codename=f"{verb}_{model}",
                defaults={"name": f"Can {verb} {verbose_name}"},
            )
            group.permissions.add(permission)


def revoke(apps, schema_editor):
    db = schema_editor.connection.alias
    Group = apps.get_model("auth", "Group")
    for group in Group.objects.using(db).filter(name__in=list(ADMIN_PAGES)):
        for app_label, model, verb, _ in ADMIN_PAGES[group.name]:
            group.permissions.remove(
                *group.permissions.filter(content_type__app_label=app_label, codename=f"{verb}_{model}")
            )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_staff_groups"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
