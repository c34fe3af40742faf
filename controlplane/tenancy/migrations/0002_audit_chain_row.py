from django.db import migrations


def create_chain(apps, schema_editor):
    # The single row every audit writer locks; made here so writers never race to create it.
    apps.get_model("tenancy", "AuditChain").objects.get_or_create(pk=1)


class Migration(migrations.Migration):
    dependencies = [("tenancy", "0001_initial")]
    operations = [migrations.RunPython(create_chain, migrations.RunPython.noop)]
