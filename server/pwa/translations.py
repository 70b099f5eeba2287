"""Every word the app shows, in Thai and English, in three sets: the installed app's own
(``MANIFEST``: the web manifest, its shortcuts and the service worker's offline page), the
app's screens (``SCREENS``), and the job statuses as people read them (``STATUSES``).

The app gets the last two as its module ``translations.js`` (written by ``python -m cdn.build``
from :func:`for_app`), the manifest and the service worker the first, rendered per locale
(server/pwa/shell.py). A key the app asks for and no set has shows as the key itself.
"""

from __future__ import annotations

from typing import Final

MANIFEST: Final[dict[str, dict[str, str]]] = {
    "th": {
        "name": "Tinedy Field · งานภาคสนาม",
        "short_name": "Tinedy",
        "description": "งานทำความสะอาดของวันนี้ เช็คอิน รายการตรวจ และอัปเดตสด แม้ไม่มีสัญญาณ",
        "today": "งานวันนี้",
        "check_in": "เช็คอิน",
        "sync": "ซิงค์ตอนนี้",
        "board": "กระดานจ่ายงาน",
        "offline": "ออฟไลน์ · เปิดแอปอีกครั้งเมื่อมีสัญญาณ",
        "list": "รายการงานวันนี้",
    },
    "en": {
        "name": "Tinedy Field",
        "short_name": "Tinedy",
        "description": "Today's cleaning jobs, check-ins, checklists and live updates, offline too",
        "today": "Today's jobs",
        "check_in": "Check in",
        "sync": "Sync now",
        "board": "Dispatch board",
        "offline": "Offline: open the app again when you have signal",
        "list": "Today's job list",
    },
}

# A status's key names the step button that moves a job into it (``en_route``: "On my way").
SCREENS: Final[dict[str, dict[str, str]]] = {
    "th": {
        "signIn": "เข้าสู่ระบบ",
        "email": "อีเมล",
        "password": "รหัสผ่าน",
        "today": "งานวันนี้",
        "none": "วันนี้ไม่มีงาน",
        "offline": "ออฟไลน์",
        "waiting": "รอส่ง",
        "back": "กลับ",
        "checkIn": "เช็คอิน",
        "checklist": "รายการตรวจ",
        "failed": "ไม่สำเร็จ",
        "signOut": "ออกจากระบบ",
        "sent": "ส่งแล้ว",
        "photos": "รูปถ่าย",
        "addPhoto": "ถ่ายรูป",
        "shared": "รูปที่แชร์มา",
        "attach": "แนบกับงานนี้",
        "processing": "กำลังประมวลผล",
        "unsent": "ยังมีรายการที่ยังไม่ได้ส่ง จะหายไปถ้าออกจากระบบตอนนี้ ออกจากระบบหรือไม่?",
        "board": "กระดานจ่ายงาน",
        "phones": "โทรศัพท์ของทีม",
        "lastSeen": "ติดต่อล่าสุด",
        "skew": "นาฬิกาคลาด",
        "revoke": "ยกเลิกเครื่องนี้",
        "sealed": "ล็อกไว้ รอเข้าสู่ระบบ",
        "notify": "เปิดการแจ้งเตือน",
        "en_route": "กำลังไป",
        "in_progress": "เริ่มงาน",
        "completed": "เสร็จแล้ว",
    },
    "en": {
        "signIn": "Sign in",
        "email": "Email",
        "password": "Password",
        "today": "Today's jobs",
        "none": "No jobs today",
        "offline": "Offline",
        "waiting": "waiting",
        "back": "Back",
        "checkIn": "Check in",
        "checklist": "Checklist",
        "failed": "Failed",
        "signOut": "Sign out",
        "sent": "Sent",
        "photos": "Photos",
        "addPhoto": "Take a photo",
        "shared": "Shared photos",
        "attach": "Attach to this job",
        "processing": "processing",
        "unsent": "Some changes have not been sent yet and will be lost if you sign out now. "
        "Sign out?",
        "board": "Dispatch board",
        "phones": "Team phones",
        "lastSeen": "last contact",
        "skew": "clock off by",
        "revoke": "Sign this phone out",
        "sealed": "locked until you sign in",
        "notify": "Turn on notifications",
        "en_route": "On my way",
        "in_progress": "Start",
        "completed": "Done",
    },
}

STATUSES: Final[dict[str, dict[str, str]]] = {
    "th": {
        "pending": "รอจ่ายงาน",
        "assigned": "ได้รับงาน",
        "en_route": "กำลังเดินทาง",
        "in_progress": "กำลังทำ",
        "completed": "เสร็จแล้ว",
        "cancelled": "ยกเลิก",
    },
    "en": {
        "pending": "Pending",
        "assigned": "Assigned",
        "en_route": "On the way",
        "in_progress": "In progress",
        "completed": "Completed",
        "cancelled": "Cancelled",
    },
}


def for_app() -> dict[str, dict[str, dict[str, str]]]:
    """What ``translations.js`` holds."""
    return {"screens": SCREENS, "statuses": STATUSES}
