# moto 5.2.5 gap: CreateImage raises NotImplementedError (HTTP 500) for a TagSpecification
# of ResourceType=snapshot, which AWS documents ("the snapshots that are created of the
# root volume and of other Amazon EBS volumes that are attached to the instance"). cellar
# tags an image's snapshots at creation, so bundle-ami failed on moto. This tags the
# image's snapshot (moto makes one, of the root volume) with them instead. Idempotent; run
# with the venv's python.
import pathlib, sys
import moto.ec2.models.amis as module

path = pathlib.Path(module.__file__)
text = path.read_text()
marker = "# cellar: snapshot tags of CreateImage"
if marker in text:
    sys.exit(0)
old_raise = """            elif resource_type == "snapshot":
                raise NotImplementedError()"""
new_raise = f"""            elif resource_type == "snapshot":
                {marker}
                snapshot_tags += tag_specification["Tags"]"""
old_init = """        tags = []
        for tag_specification in tag_specifications:"""
new_init = """        tags = []
        snapshot_tags = []
        for tag_specification in tag_specifications:"""
old_add = """        for tag in tags:
            ami.add_tag(tag["Key"], tag["Value"])
        self.amis[ami_id] = ami
        return ami

    def copy_image("""
new_add = """        for tag in tags:
            ami.add_tag(tag["Key"], tag["Value"])
        if snapshot_tags and getattr(ami, "ebs_snapshot", None) is not None:
            for tag in snapshot_tags:
                ami.ebs_snapshot.add_tag(tag["Key"], tag["Value"])
        self.amis[ami_id] = ami
        return ami

    def copy_image("""
for old in (old_raise, old_init, old_add):
    if text.count(old) != 1:
        sys.exit(f"{path}: the code to patch is not there (not moto 5.2.5?)")
text = text.replace(old_raise, new_raise).replace(old_init, new_init).replace(old_add, new_add)
path.write_text(text)
