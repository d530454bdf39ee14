"""Who spoke when: speech and overlap from pyannote segmentation, CAM++ voices, clustering."""
