from points.selectors import unread_notification_count


def member_header(request):
    """The unread count shown in the header: one query, only for logged-in members."""
    from points.views import member_for

    member = member_for(request)
    if member is None:
        return {}
    return {"header_member": member, "unread_notifications": unread_notification_count(member)}
