# moto 5.2.5 bug: CreateLaunchTemplateVersion stores LaunchTemplateData.UserData as a plain
# string, where CreateLaunchTemplate wraps it (parse_user_data). A group launching from such
# a version then crashes moto (AssertionError in LaunchTemplateVersion.user_data, HTTP 500)
# when it replaces an instance. This applies CreateLaunchTemplate's own handling to
# CreateLaunchTemplateVersion. Idempotent; run with the venv's python.
import pathlib, sys
import moto.ec2.responses.launch_templates as module

path = pathlib.Path(module.__file__)
text = path.read_text()
marker = "# cellar: parse UserData of new versions"
if marker in text:
    sys.exit(0)
old = """        template_data = self._get_param("LaunchTemplateData", {})

        self.error_on_dryrun()

        version = template.create_version(template_data, version_description)"""
new = f"""        template_data = self._get_param("LaunchTemplateData", {{}})
        {marker}
        if "UserData" in template_data:
            template_data["UserData"] = parse_user_data(
                self._get_param("LaunchTemplateData.UserData")
            )

        self.error_on_dryrun()

        version = template.create_version(template_data, version_description)"""
if old not in text:
    sys.exit(f"{path}: the code to patch is not there (not moto 5.2.5?)")
path.write_text(text.replace(old, new))
