# moto 5.2.5 gap: CreateImage with a TagSpecification for ResourceType=snapshot (AWS tags
# the snapshots CreateImage makes, and cellar's bundle-ami asks for it) raises
# NotImplementedError (HTTP 500). This tags the image's snapshot instead, as AWS would.
# Idempotent; run with the venv's python.
import pathlib, sys
import moto.ec2.models.amis as module

path = pathlib.Path(module.__file__)
text = path.read_text()
marker = "# cellar: tag CreateImage's snapshot"
if marker in text:
    sys.exit(0)
old_loop = """        tags = []
        for tag_specification in tag_specifications:
            resource_type = tag_specification["ResourceType"]
            if resource_type == "image":
                tags += tag_specification["Tags"]
            elif resource_type == "snapshot":
                raise NotImplementedError()
            else:
                raise InvalidTaggableResourceType(resource_type)
"""
new_loop = f"""        tags = []
        snapshot_tags = []  {marker}
        for tag_specification in tag_specifications:
            resource_type = tag_specification["ResourceType"]
            if resource_type == "image":
                tags += tag_specification["Tags"]
            elif resource_type == "snapshot":
                snapshot_tags += tag_specification["Tags"]
            else:
                raise InvalidTaggableResourceType(resource_type)
"""
old_tags = """        for tag in tags:
            ami.add_tag(tag["Key"], tag["Value"])
        self.amis[ami_id] = ami
        return ami

    def copy_image("""
new_tags = """        for tag in tags:
            ami.add_tag(tag["Key"], tag["Value"])
        for tag in snapshot_tags:
            ami.ebs_snapshot.add_tag(tag["Key"], tag["Value"])
        self.amis[ami_id] = ami
        return ami

    def copy_image("""
if old_loop not in text or old_tags not in text:
    sys.exit(f"{path}: the code to patch is not there (not moto 5.2.5?)")
path.write_text(text.replace(old_loop, new_loop).replace(old_tags, new_tags))
